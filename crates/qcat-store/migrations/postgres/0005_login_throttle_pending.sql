-- Sign-in attempts in flight per throttle subject (issue #8): an attempt takes a slot before
-- its password is checked and gives it back when it is settled, so at most the limit's worth
-- of unverified guesses run at once, and concurrent right passwords wait instead of failing.
ALTER TABLE login_throttle ADD COLUMN pending BIGINT NOT NULL DEFAULT 0;
