// Package gemini is the Gemini adapter of the insight LLM port (contract 9.6, decision
// D4): it sends the coaching instructions and the provider input through the official
// google.golang.org/genai SDK with a JSON response schema, caps the whole call at 25 s,
// and validates the reply locally against the output schema. The API key goes only to
// the SDK; it is never logged and never part of an error this package returns.
package gemini

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/genai"

	"github.com/devflow/backend/domain/insight"
)

// DefaultTimeout caps one call, request and reply included (12: LLM timeout 25 s).
const DefaultTimeout = 25 * time.Second

// Temperature of every request (9.6).
const Temperature = 0.4

// Config configures the client.
type Config struct {
	APIKey string // GOOGLE_API_KEY; required
	Model  string // GEMINI_MODEL
	// BaseURL overrides the endpoint (GOOGLE_GEMINI_BASE_URL). Empty leaves the choice
	// to the SDK, which reads GOOGLE_GEMINI_BASE_URL itself and otherwise uses Google's.
	BaseURL    string
	Timeout    time.Duration // 0 means DefaultTimeout; tests shorten it
	HTTPClient *http.Client  // optional
}

// Client calls Gemini.
type Client struct {
	models  *genai.Models
	model   string
	timeout time.Duration
	config  *genai.GenerateContentConfig
}

// ErrNotConfigured is returned by New without an API key.
var ErrNotConfigured = errors.New("gemini: GOOGLE_API_KEY is not set")

// ErrCall wraps every failure of Generate: API errors, transport errors, the timeout,
// and replies that are empty, not JSON or not valid against the schema.
var ErrCall = errors.New("gemini call failed")

// ErrTimeout is wrapped (with ErrCall) when the call ran past the timeout.
var ErrTimeout = errors.New("timed out")

// New builds a client. Building does no I/O.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.APIKey == "" {
		return nil, ErrNotConfigured
	}
	if cfg.Model == "" {
		cfg.Model = "gemini-2.5-flash"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if _, err := replySchema(); err != nil {
		return nil, fmt.Errorf("gemini: output schema: %w", err)
	}
	cc := &genai.ClientConfig{
		APIKey:      cfg.APIKey,
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  cfg.HTTPClient,
		HTTPOptions: genai.HTTPOptions{BaseURL: cfg.BaseURL},
	}
	client, err := genai.NewClient(ctx, cc)
	if err != nil {
		// The SDK's construction errors print the whole ClientConfig, API key included:
		// never pass them on.
		return nil, errors.New("gemini: cannot create the genai client (check GEMINI_MODEL and GOOGLE_GEMINI_BASE_URL)")
	}
	temperature := float32(Temperature)
	noContinuation := false
	return &Client{
		models:  client.Models,
		model:   cfg.Model,
		timeout: cfg.Timeout,
		config: &genai.GenerateContentConfig{
			SystemInstruction:     genai.NewContentFromText(insight.Instructions, genai.RoleUser),
			Temperature:           &temperature,
			ResponseMIMEType:      "application/json",
			ResponseJsonSchema:    responseSchema(),
			AutomaticContinuation: &noContinuation, // one request per call: the timeout covers it all
		},
	}, nil
}

// Generate asks Gemini for a reply to in and returns it only if it is valid against
// the output schema. The hallucination guard is the caller's (it is domain logic).
func (c *Client) Generate(ctx context.Context, in insight.Input) (insight.Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// The SDK mutates the config it is given (defaults); give it a copy.
	cfg := *c.config
	resp, err := c.models.GenerateContent(ctx, c.model, genai.Text(in.PrettyJSON()), &cfg)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return insight.Reply{}, fmt.Errorf("%w: %w after %s", ErrCall, ErrTimeout, c.timeout)
		}
		return insight.Reply{}, fmt.Errorf("%w: %v", ErrCall, describe(err))
	}
	reply, err := ParseReply(resp.Text())
	if err != nil {
		return insight.Reply{}, fmt.Errorf("%w: %w", ErrCall, err)
	}
	return reply, nil
}

// describe keeps what is useful in a log line of an SDK error: the API status and
// message, or the transport error.
func describe(err error) string {
	var apiErr genai.APIError
	if errors.As(err, &apiErr) {
		return fmt.Sprintf("API error %d %s: %s", apiErr.Code, apiErr.Status, truncate(apiErr.Message, 300))
	}
	return truncate(err.Error(), 300)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
