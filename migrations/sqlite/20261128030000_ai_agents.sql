-- Why: identities that are AI or autonomous agents carry NIST AI RMF 1.0 obligations on top
-- of the NHI and CSF ones; the flag selects those framework ids for their findings.
ALTER TABLE identity ADD COLUMN ai_agent INTEGER NOT NULL DEFAULT 0 CHECK (ai_agent IN (0, 1));

INSERT INTO framework_mapping VALUES
('owner-missing', 'NIST AI RMF 1.0', 'GOVERN 2.1'),
('owner-departed', 'NIST AI RMF 1.0', 'GOVERN 2.1'),
('purpose-missing', 'NIST AI RMF 1.0', 'MAP 1.1'),
('purpose-missing', 'NIST AI RMF 1.0', 'GOVERN 1.6'),
('unknown-use-case', 'NIST AI RMF 1.0', 'GOVERN 1.6'),
('granted-beyond-approved', 'NIST AI RMF 1.0', 'MEASURE 2.7'),
('beyond-template', 'NIST AI RMF 1.0', 'MEASURE 2.7'),
('credential-reuse', 'NIST AI RMF 1.0', 'MEASURE 2.7'),
('secret-stale', 'NIST AI RMF 1.0', 'MEASURE 2.7'),
('secret-auth', 'NIST AI RMF 1.0', 'MEASURE 2.7'),
('token-lifetime', 'NIST AI RMF 1.0', 'MEASURE 2.7'),
('refresh-on-backend', 'NIST AI RMF 1.0', 'MEASURE 2.7'),
('review-overdue', 'NIST AI RMF 1.0', 'GOVERN 1.5'),
('never-reviewed', 'NIST AI RMF 1.0', 'GOVERN 1.5'),
('dormant', 'NIST AI RMF 1.0', 'MANAGE 2.4'),
('revocation-path-missing', 'NIST AI RMF 1.0', 'MANAGE 2.4');
