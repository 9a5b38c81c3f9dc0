package telemetry

import (
	"encoding/json"

	"github.com/devflow/backend/domain/ids"
)

func mustID(s string) ids.ID { return ids.MustParse(s) }

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func idBytes(id ids.ID) []byte { return id[:] }
