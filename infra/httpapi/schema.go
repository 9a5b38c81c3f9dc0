package httpapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"math/big"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"gopkg.in/yaml.v3"

	cmdtelemetry "github.com/devflow/backend/commands/telemetry"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/telemetry"
)

// openAPIDocument is the service's OpenAPI description, served at /api/v1/openapi.yaml
// and the source of the request schemas.
//
//go:embed openapi.yaml
var openAPIDocument []byte

// SchemaMismatch is the message of a schema validation failure (contract 2.3, shape 1).
const SchemaMismatch = "Request body does not match required schema"

// schemaComponents maps the names handlers use to the OpenAPI components they validate
// with.
var schemaComponents = map[string]string{
	"register":                  "RegisterRequest",
	"login":                     "LoginRequest",
	"createToken":               "CreateTokenRequest",
	"updateMe":                  "UpdateMeRequest",
	"eraseMe":                   "EraseRequest",
	"telemetryEnvelope":         "TelemetryEnvelope",
	"event":                     "EventBase",
	"event.file_save":           "FileSaveEvent",
	"event.text_change":         "TextChangeEvent",
	"event.editor_switch":       "EditorSwitchEvent",
	"event.debug_session_start": "DebugSessionStartEvent",
	"event.terminal_open":       "TerminalOpenEvent",
	"event.git_activity":        "GitActivityEvent",
}

// Detail is one validation error in the AJV style the Node implementation answered with
// (contract 2.3). It is the telemetry ingest's own type (commands may not import
// infra), so the ingest's details and every other 400's share one shape.
type Detail = cmdtelemetry.Detail

// Schemas are the request schemas of openapi.yaml, compiled once.
type Schemas struct {
	byName       map[string]compiledSchema
	eventSchemas map[string]string // event type -> schema name
	// The fast checks of the telemetry envelope and of events by client type.
	quickEnvelope *fastCheck
	quickEvents   map[string]*fastCheck
}

type compiledSchema struct {
	schema   *jsonschema.Schema
	location string // prefix of the schema's SchemaURLs, cut off to get AJV schema paths
}

var requestSchemas = sync.OnceValues(CompileSchemas)

// RequestSchemas returns the request schemas compiled from the embedded openapi.yaml.
// They are compiled on first use and shared afterwards; New calls it so that a broken
// description stops the service at start-up, never during a request.
func RequestSchemas() (*Schemas, error) { return requestSchemas() }

// CompileSchemas converts the components of the embedded OpenAPI 3.0 document to JSON
// Schema (draft 2020-12) and compiles the named request schemas. Prefer RequestSchemas,
// which compiles only once.
func CompileSchemas() (*Schemas, error) {
	defs, err := componentSchemas()
	if err != nil {
		return nil, err
	}
	c, err := newCompiler(defs)
	if err != nil {
		return nil, err
	}
	s := &Schemas{byName: map[string]compiledSchema{}, eventSchemas: map[string]string{}, quickEvents: map[string]*fastCheck{},
		quickEnvelope: compileFast(defs[schemaComponents["telemetryEnvelope"]])}
	for name, component := range schemaComponents {
		if t, isEvent := strings.CutPrefix(name, "event."); isEvent {
			s.eventSchemas[t] = name
			s.quickEvents[t] = compileFast(defs[component]).identified()
		}
		loc := schemasBase + "#/$defs/" + component
		sch, err := c.Compile(loc)
		if err != nil {
			return nil, fmt.Errorf("httpapi: compile %s: %w", name, err)
		}
		s.byName[name] = compiledSchema{schema: sch, location: loc}
	}
	return s, nil
}

// schemasBase is the URL the converted components are compiled under.
const schemasBase = "https://devflow.invalid/request-schemas.json"

// componentSchemas converts every component schema of the embedded OpenAPI document to
// JSON Schema, as JSON values with json.Number numbers.
func componentSchemas() (map[string]any, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(openAPIDocument, &doc); err != nil {
		return nil, fmt.Errorf("httpapi: openapi.yaml: %w", err)
	}
	components, _ := doc["components"].(map[string]any)
	schemas, _ := components["schemas"].(map[string]any)
	if schemas == nil {
		return nil, fmt.Errorf("httpapi: openapi.yaml has no components.schemas")
	}
	defs := map[string]any{}
	for name := range schemas {
		converted, err := convertSchema(schemas[name], schemas, nil)
		if err != nil {
			return nil, fmt.Errorf("httpapi: schema %s: %w", name, err)
		}
		defs[name] = converted
	}
	// Round-trip through JSON so numbers have the types the compilers expect.
	raw, err := json.Marshal(defs)
	if err != nil {
		return nil, err
	}
	converted, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	return converted.(map[string]any), nil
}

// newCompiler is a JSON Schema compiler that knows defs under schemasBase#/$defs and
// asserts the contract's formats.
func newCompiler(defs map[string]any) (*jsonschema.Compiler, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	for _, name := range formats {
		c.RegisterFormat(&jsonschema.Format{Name: name, Validate: func(v any) error {
			s, ok := v.(string)
			if !ok {
				return nil // formats apply to strings only
			}
			return checkFormat(name, []byte(s))
		}})
	}
	return c, c.AddResource(schemasBase, map[string]any{"$defs": defs})
}

// convertSchema turns an OpenAPI 3.0 schema object into JSON Schema: component $refs are
// inlined (so schema paths stay inside the named schema), "nullable" becomes a "null"
// type, and OpenAPI-only keywords are dropped.
func convertSchema(v any, components map[string]any, seen []string) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			name, found := strings.CutPrefix(ref, "#/components/schemas/")
			if !found || components[name] == nil {
				return nil, fmt.Errorf("unresolvable $ref %q", ref)
			}
			if slices.Contains(seen, name) {
				return nil, fmt.Errorf("recursive $ref %q", ref)
			}
			return convertSchema(components[name], components, append(seen, name))
		}
		out := map[string]any{}
		for key, val := range v {
			switch {
			case key == "nullable" || key == "discriminator" || key == "example" || key == "xml" ||
				key == "externalDocs" || strings.HasPrefix(key, "x-"):
				continue
			case key == "properties":
				// Property names are data, not keywords: convert each value only.
				props := map[string]any{}
				for pname, pschema := range val.(map[string]any) {
					converted, err := convertSchema(pschema, components, seen)
					if err != nil {
						return nil, err
					}
					props[pname] = converted
				}
				out[key] = props
			default:
				converted, err := convertSchema(val, components, seen)
				if err != nil {
					return nil, err
				}
				out[key] = converted
			}
		}
		if nullable, _ := v["nullable"].(bool); nullable {
			if t, ok := out["type"].(string); ok {
				out["type"] = []any{t, "null"}
			}
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, item := range v {
			converted, err := convertSchema(item, components, seen)
			if err != nil {
				return nil, err
			}
			out[i] = converted
		}
		return out, nil
	default:
		return v, nil
	}
}

// Validate checks doc (decoded JSON, e.g. from ParseJSON) against the named schema and
// returns the failures, or nil when doc is valid. An unknown name is a programming error
// and panics.
func (s *Schemas) Validate(name string, doc any) []Detail {
	return s.ValidateAt(name, doc, "")
}

// ValidateAt is Validate for a value found at pathPrefix (a JSON Pointer, e.g.
// "/events/3") inside a larger body: every InstancePath is rooted at the body.
func (s *Schemas) ValidateAt(name string, doc any, pathPrefix string) []Detail {
	cs, ok := s.byName[name]
	if !ok {
		panic(fmt.Sprintf("httpapi: unknown schema %q", name))
	}
	err := cs.schema.Validate(doc)
	if err == nil {
		return nil
	}
	verr, ok := err.(*jsonschema.ValidationError)
	if !ok {
		// Only an invalid Go value (not decoded JSON) gets here.
		return []Detail{{InstancePath: pathPrefix, SchemaPath: "#", Keyword: "type", Params: map[string]any{}, Message: err.Error()}}
	}
	var details []Detail
	collectDetails(verr, cs.location, pathPrefix, &details)
	sortDetails(details)
	return details
}

// ValidateEvent validates events[index] of a telemetry body against the schema of its
// "type"; details are rooted at /events/<index>. An event without one of the six types
// is validated against the "event" schema, which reports the missing or unknown type
// (and any other missing common field).
func (s *Schemas) ValidateEvent(event any, index int) []Detail {
	name := "event"
	if obj, ok := event.(map[string]any); ok {
		if t, ok := obj["type"].(string); ok {
			if n, known := s.eventSchemas[t]; known {
				name = n
			}
		}
	}
	return s.ValidateAt(name, event, "/events/"+strconv.Itoa(index))
}

// The telemetry ingest's validator (cmdtelemetry.Validator): the fast checks compiled
// from the telemetry schemas, and the schema validator for what they cannot settle.

// QuickEnvelope reports whether the payload envelope is surely valid.
func (s *Schemas) QuickEnvelope(root telemetry.Value) bool { return s.quickEnvelope.valid(root) }

// QuickEvent reports whether an event identified as of clientType is surely valid.
func (s *Schemas) QuickEvent(clientType string, ev telemetry.Value) bool {
	c, known := s.quickEvents[clientType]
	return known && c.valid(ev)
}

// Envelope validates the payload envelope.
func (s *Schemas) Envelope(root telemetry.Value) []Detail {
	return s.Validate("telemetryEnvelope", envelopeDoc(root))
}

// Event validates events[index] against the schema of its type.
func (s *Schemas) Event(ev telemetry.Value, index int) []Detail {
	doc, _ := ParseJSON(ev.Raw())
	return s.ValidateEvent(doc, index)
}

// envelopeDoc is the envelope decoded as its schema sees it, except that the events
// array stands in as placeholders of the same length (the envelope does not validate
// items), so a 4 MB batch is never decoded into maps.
func envelopeDoc(root telemetry.Value) any {
	if !root.Is(telemetry.KindObject) {
		return placeholder(root)
	}
	doc := map[string]any{}
	for m := range root.Members() {
		switch key := m.Key(); {
		case key != "events":
			doc[key], _ = ParseJSON(m.Raw())
		case m.Is(telemetry.KindArray):
			doc[key] = make([]any, m.Len())
		default:
			doc[key] = placeholder(m)
		}
	}
	return doc
}

// placeholder is a value of v's JSON type, for checks that only look at the type.
func placeholder(v telemetry.Value) any {
	switch v.Kind() {
	case telemetry.KindObject:
		return map[string]any{}
	case telemetry.KindArray:
		return []any{}
	case telemetry.KindString:
		return ""
	case telemetry.KindNumber:
		return json.Number("0")
	case telemetry.KindTrue, telemetry.KindFalse:
		return false
	}
	return nil
}

var english = message.NewPrinter(language.English)

// collectDetails flattens the error tree into leaf details. Group, schema and $ref nodes
// only carry causes.
func collectDetails(e *jsonschema.ValidationError, location, prefix string, out *[]Detail) {
	for _, cause := range e.Causes {
		collectDetails(cause, location, prefix, out)
	}
	kw := e.ErrorKind.KeywordPath()
	if len(kw) == 0 {
		return
	}
	if _, isRef := e.ErrorKind.(*kind.Reference); isRef {
		return
	}
	instancePath := prefix + jsonPointer(e.InstanceLocation)
	schemaPath := "#" + strings.TrimPrefix(e.SchemaURL, location)
	if i := strings.IndexByte(schemaPath[1:], '#'); i >= 0 {
		// A location outside the named schema: keep its own fragment.
		schemaPath = schemaPath[i+1:]
	}
	for _, k := range kw {
		schemaPath += "/" + escapePointer(k)
	}
	add := func(params map[string]any, msg string) {
		*out = append(*out, Detail{InstancePath: instancePath, SchemaPath: schemaPath, Keyword: kw[0], Params: params, Message: msg})
	}
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		for _, p := range k.Missing {
			add(map[string]any{"missingProperty": p}, "must have required property '"+p+"'")
		}
	case *kind.Type:
		want := strings.Join(k.Want, ",")
		var param any = want
		if len(k.Want) > 1 {
			param = k.Want
		}
		add(map[string]any{"type": param}, "must be "+want)
	case *kind.Format:
		add(map[string]any{"format": k.Want}, `must match format "`+k.Want+`"`)
	case *kind.MinLength:
		add(map[string]any{"limit": k.Want}, fmt.Sprintf("must NOT have fewer than %d characters", k.Want))
	case *kind.MaxLength:
		add(map[string]any{"limit": k.Want}, fmt.Sprintf("must NOT have more than %d characters", k.Want))
	case *kind.MinItems:
		add(map[string]any{"limit": k.Want}, fmt.Sprintf("must NOT have fewer than %d items", k.Want))
	case *kind.MaxItems:
		add(map[string]any{"limit": k.Want}, fmt.Sprintf("must NOT have more than %d items", k.Want))
	case *kind.MinProperties:
		add(map[string]any{"limit": k.Want}, fmt.Sprintf("must NOT have fewer than %d properties", k.Want))
	case *kind.MaxProperties:
		add(map[string]any{"limit": k.Want}, fmt.Sprintf("must NOT have more than %d properties", k.Want))
	case *kind.Enum:
		add(map[string]any{"allowedValues": k.Want}, "must be equal to one of the allowed values")
	case *kind.Const:
		add(map[string]any{"allowedValue": k.Want}, "must be equal to constant")
	case *kind.Pattern:
		add(map[string]any{"pattern": k.Want}, `must match pattern "`+k.Want+`"`)
	case *kind.Minimum:
		add(limitParams(">=", k.Want), "must be >= "+ratString(k.Want))
	case *kind.Maximum:
		add(limitParams("<=", k.Want), "must be <= "+ratString(k.Want))
	case *kind.ExclusiveMinimum:
		add(limitParams(">", k.Want), "must be > "+ratString(k.Want))
	case *kind.ExclusiveMaximum:
		add(limitParams("<", k.Want), "must be < "+ratString(k.Want))
	case *kind.MultipleOf:
		add(map[string]any{"multipleOf": ratNumber(k.Want)}, "must be multiple of "+ratString(k.Want))
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			add(map[string]any{"additionalProperty": p}, "must NOT have additional properties")
		}
	default:
		add(map[string]any{}, e.ErrorKind.LocalizedString(english))
	}
}

func limitParams(comparison string, limit *big.Rat) map[string]any {
	return map[string]any{"comparison": comparison, "limit": ratNumber(limit)}
}

func ratNumber(r *big.Rat) json.Number { return json.Number(ratString(r)) }

func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// sortDetails orders details by instance path, comparing array indexes numerically, so
// the output is stable (the validator visits object properties in map order). Details of
// the same path keep the validator's order.
func sortDetails(details []Detail) {
	slices.SortStableFunc(details, func(a, b Detail) int {
		return comparePointers(a.InstancePath, b.InstancePath)
	})
}

func comparePointers(a, b string) int {
	if a == b {
		return 0
	}
	at, bt := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(at) && i < len(bt); i++ {
		if at[i] == bt[i] {
			continue
		}
		ai, aerr := strconv.Atoi(at[i])
		bi, berr := strconv.Atoi(bt[i])
		if aerr == nil && berr == nil {
			return ai - bi
		}
		return strings.Compare(at[i], bt[i])
	}
	return len(at) - len(bt)
}

func jsonPointer(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		sb.WriteString(escapePointer(t))
	}
	return sb.String()
}

func escapePointer(t string) string {
	if !strings.ContainsAny(t, "~/") {
		return t
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(t)
}

// formats are the contract's string formats (4.5), checked by checkFormat for the
// schema validator and the fast check alike.
var formats = []string{"date-time", "uuid", "email"}

func checkFormat(name string, b []byte) error {
	var err error
	switch name {
	case "date-time":
		_, err = telemetry.ParseTimestamp(b)
	case "uuid":
		_, err = ids.ParseBytes(b)
	case "email":
		err = validateEmail(string(b))
	default:
		panic("httpapi: unknown format " + name)
	}
	return err
}

// validateEmail is JSON Schema's email format: an RFC 5321 Mailbox. The library's own
// check accepts an empty local part ("@example.com"), which RFC 5321 does not.
func validateEmail(s string) error {
	if len(s) > 254 {
		return fmt.Errorf("longer than 254 characters")
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return fmt.Errorf("missing @")
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 {
		return fmt.Errorf("local part longer than 64 characters")
	}
	if !dotStringPattern.MatchString(local) && !quotedStringPattern.MatchString(local) {
		return fmt.Errorf("invalid local part")
	}
	if lit, ok := strings.CutPrefix(domain, "["); ok {
		lit, ok = strings.CutSuffix(lit, "]")
		if !ok {
			return fmt.Errorf("unterminated address literal")
		}
		if v6, isV6 := strings.CutPrefix(lit, "IPv6:"); isV6 {
			if addr, err := netip.ParseAddr(v6); err != nil || !addr.Is6() {
				return fmt.Errorf("invalid IPv6 address literal")
			}
			return nil
		}
		if addr, err := netip.ParseAddr(lit); err != nil || !addr.Is4() {
			return fmt.Errorf("invalid IPv4 address literal")
		}
		return nil
	}
	if len(domain) > 253 || !domainPattern.MatchString(domain) {
		return fmt.Errorf("invalid domain")
	}
	return nil
}

var (
	// RFC 5321 Dot-string: atoms of atext joined by single dots.
	dotStringPattern = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
	// RFC 5321 Quoted-string: printable ASCII, with a backslash escaping any printable character.
	quotedStringPattern = regexp.MustCompile(`^"([\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"$`)
	// Hostname: labels of letters, digits and inner hyphens, 1..63 characters each.
	domainPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)
)
