-- +goose Up
-- The recommendations read model (projection "recommendations"): one row per
-- recommendation with every field of the API object (contract 3.19) plus the owner and
-- the time of the action that ended it (a snooze's time drives the cooldown, D3).
-- Folded from RecommendationIssued / Expired / Accepted / Dismissed / Snoozed events.
CREATE TABLE recommendations (
    id                  uuid             PRIMARY KEY,
    -- log order of the issue event: breaks created_at ties deterministically on replay
    seq                 bigint           GENERATED ALWAYS AS IDENTITY,
    user_id             uuid             NOT NULL,
    session_id          uuid,
    state_type          text             NOT NULL,
    confidence_score    double precision NOT NULL,
    recommendation_type text             NOT NULL,
    recommendation_text text             NOT NULL,
    reasoning           text,
    evidence            jsonb            NOT NULL DEFAULT '[]',
    triggered_rule      text,
    source              text             NOT NULL,
    user_action         text,
    acted_at            timestamptz,
    created_at          timestamptz      NOT NULL
);
-- history (newest first) and the latest one for the cooldown
CREATE INDEX recommendations_user_created ON recommendations (user_id, created_at DESC, seq DESC);
-- the pending one
CREATE INDEX recommendations_user_pending ON recommendations (user_id) WHERE user_action IS NULL;

-- +goose Down
DROP TABLE recommendations;
