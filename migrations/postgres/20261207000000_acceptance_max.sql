-- How long a risk acceptance may last at most, in days (one year unless changed).
ALTER TABLE review_policy ADD COLUMN acceptance_max_days BIGINT NOT NULL DEFAULT 365
    CHECK (acceptance_max_days BETWEEN 1 AND 1825);
