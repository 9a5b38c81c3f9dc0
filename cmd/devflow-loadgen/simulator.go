package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
)

// Workloads (-workload): what the simulated clients are.
const (
	workloadExtension  = "extension"  // devFlow's VS Code extension: POST /telemetry
	workloadHeartbeats = "heartbeats" // a WakaTime plugin through wakatime-cli: POST /users/current/heartbeats.bulk
)

// simulator is one simulated client of a workload.
type simulator interface {
	// request is the HTTP request that sends the client's next n items.
	request(baseURL string, cr credential, n int, sentAt time.Time) (*http.Request, error)
	// tally reads a 2xx answer to a request of n items: how many were accepted, were
	// duplicates and were rejected.
	tally(body []byte, n int) (accepted, duplicates, rejected int64)
	// stored is the rows the server would store for the client's next n items, for the
	// copy baseline: user is the caller, versions each stream's last version (advanced).
	stored(n int, user string, versions map[string]int64) ([][]any, error)
}

// newSimulator is the simulated client i of the run's workload. Its seed depends only
// on -seed and i, so the copy baseline's writers generate the very items the HTTP
// clients send.
func (r *runner) newSimulator(i int, now time.Time) simulator {
	if r.o.workload == workloadHeartbeats {
		return newPlugin(r.o.seed+uint64(i)*7919, i, now.Add(-heartbeatLead))
	}
	return r.newClient(i, now)
}

func (c *client) request(baseURL string, cr credential, n int, sentAt time.Time) (*http.Request, error) {
	body, err := c.batch(n, sentAt)
	if err != nil {
		return nil, err
	}
	return postRequest(baseURL+"/telemetry", body, "Bearer "+cr.token)
}

// postRequest is a POST of the JSON body with the Authorization header auth.
func postRequest(url string, body []byte, auth string) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	return req, nil
}

// telemetryReply is the 202 body; counters are pointers so an implementation that omits
// them is recognised (then every event of a 2xx request counts as accepted).
type telemetryReply struct {
	Accepted   *int64 `json:"accepted_count"`
	Duplicates *int64 `json:"duplicate_count"`
	Rejected   *int64 `json:"rejected_count"`
}

func (c *client) tally(body []byte, n int) (accepted, duplicates, rejected int64) {
	var reply telemetryReply
	_ = json.Unmarshal(body, &reply) // a 2xx without our counters still counts
	accepted = int64(n)
	if reply.Accepted != nil {
		accepted = *reply.Accepted
	}
	if reply.Duplicates != nil {
		duplicates = *reply.Duplicates
	}
	if reply.Rejected != nil {
		rejected = *reply.Rejected
	}
	return accepted, duplicates, rejected
}

func (c *client) stored(n int, user string, versions map[string]int64) ([][]any, error) {
	return storedRows(c.flush(n, time.Now()), user, versions)
}
