-- Why: usage rows are found by their client, the first columns of the primary key, not by
-- an index on (identity, day). That index held every row's whole key again (as large as a
-- third of the table), cost an import of 618,392 aggregates two thirds of a second to build,
-- and no query sought through it: an identity's rows are its client's rows, (client_id,
-- environment) being unique to an identity.
DROP INDEX usage_daily_identity;
