package deploy

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// serviceVariables is every variable the service reads: contract section 12, plus
// METRICS_ADDR, MIGRATE_ON_START and SHUTDOWN_TIMEOUT_SECONDS. Each must appear in the
// ConfigMap or the Secret template so an operator sees every knob. When infra/config
// learns a variable, TestManifests_CoverWhatTheSourceReads fails until it is here and
// in a manifest.
var serviceVariables = []string{
	"PORT", "APP_ENV", "LOG_LEVEL",
	"DATABASE_URL", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "DB_SSLMODE",
	"EVENTSTORE_URL", "JWT_SECRET", "DATA_KEY", "DATA_KEY_FILE", "CORS_ALLOWED_ORIGINS",
	"GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET",
	"OAUTH_CALLBACK_BASE_URL", "WEB_APP_URL", "VSCODE_DEEPLINK", "FRONTEND_URL",
	"GOOGLE_API_KEY", "GEMINI_MODEL", "GOOGLE_GEMINI_BASE_URL",
	"INSIGHTS_PROVIDER", "INSIGHTS_ENABLED", "INSIGHT_CHECK_INTERVAL_SECONDS",
	"INSIGHT_COOLDOWN_MINUTES", "SNOOZE_DURATION_MINUTES", "INSIGHT_ACTIVITY_WINDOW_MINUTES",
	"RULE_VERY_LONG_SESSION_MIN", "RULE_LONG_SESSION_MIN", "RULE_HIGH_CHURN_RATIO",
	"RULE_RAPID_SWITCH_COUNT", "RULE_DELETE_HEAVY_TOTAL", "ADMIN_USER_IDS",
	"TELEMETRY_MAX_BODY_BYTES", "TELEMETRY_INVALID_EVENTS", "METRICS_ETL_BATCH_SIZE",
	"METRICS_ADDR", "MIGRATE_ON_START", "SHUTDOWN_TIMEOUT_SECONDS",
	"HEARTBEAT_MAX_AGE", "WAKATIME_TIMEOUT_MINUTES",
}

// secretVariables must never sit in the ConfigMap.
var secretVariables = []string{"JWT_SECRET", "DATA_KEY", "DATABASE_URL", "DB_PASSWORD",
	"GOOGLE_CLIENT_SECRET", "GITHUB_CLIENT_SECRET", "GOOGLE_API_KEY"}

// notDeployed are names the source mentions that a deployment must not set: fallbacks
// and retired variables that are only logged, and the private cluster's data folder,
// which a deployment with a real database never uses.
var notDeployed = []string{"NODE_ENV", "METRICS_ETL_INTERVAL_SECONDS", "METRICS_ETL_ENABLED", "DEVFLOW_DATA_DIR"}

type object = map[string]any

type manifest struct {
	file string
	doc  object
}

// load parses every YAML document under k8s/.
func load(t *testing.T) []manifest {
	t.Helper()
	var all []manifest
	err := fs.WalkDir(Files, "k8s", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := path.Ext(p); ext != ".yaml" && ext != ".yml" {
			t.Errorf("%s: not a YAML file under k8s/", p)
			return nil
		}
		raw, err := Files.ReadFile(p)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var doc object
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if doc != nil {
				all = append(all, manifest{file: p, doc: doc})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 {
		t.Fatal("no manifests embedded")
	}
	return all
}

// dig walks maps by key and lists by index ("0").
func dig(v any, keys ...string) any {
	for _, k := range keys {
		switch x := v.(type) {
		case object:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any, keys ...string) string { s, _ := dig(v, keys...).(string); return s }

func find(t *testing.T, all []manifest, kind, name string) manifest {
	t.Helper()
	var found []manifest
	for _, m := range all {
		if str(m.doc, "kind") == kind && str(m.doc, "metadata", "name") == name && !isPatch(m) {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s %q, found %d", kind, name, len(found))
	}
	return found[0]
}

// isPatch tells a kustomize patch (a partial object) from a resource.
func isPatch(m manifest) bool { return strings.HasPrefix(path.Base(m.file), "eventstore-url") }

func TestManifests_ParseAndReferenceOnlyExistingFiles(t *testing.T) {
	for _, m := range load(t) {
		kind := str(m.doc, "kind")
		if str(m.doc, "apiVersion") == "" || kind == "" {
			t.Errorf("%s: document without apiVersion or kind", m.file)
			continue
		}
		if kind != "Kustomization" {
			if str(m.doc, "metadata", "name") == "" {
				t.Errorf("%s: %s without metadata.name", m.file, kind)
			}
			continue
		}
		dir := path.Dir(m.file)
		refs, _ := dig(m.doc, "resources").([]any)
		patches, _ := dig(m.doc, "patches").([]any)
		for _, p := range patches {
			refs = append(refs, str(p, "path"))
		}
		for _, r := range refs {
			ref := path.Join(dir, r.(string))
			if _, err := fs.Stat(Files, ref); err != nil {
				t.Errorf("%s: refers to %s, which does not exist", m.file, ref)
			}
		}
	}
}

// envKeys returns the keys of a ConfigMap's data or a Secret's stringData.
func envKeys(doc object) map[string]string {
	out := map[string]string{}
	for _, field := range []string{"data", "stringData"} {
		if m, ok := dig(doc, field).(object); ok {
			for k, v := range m {
				s, _ := v.(string)
				out[k] = s
			}
		}
	}
	return out
}

// secretTemplate parses the Secret template, which no kustomization applies.
func secretTemplate(t *testing.T) object {
	t.Helper()
	var doc object
	raw, err := Files.ReadFile("k8s/secret.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if str(doc, "kind") != "Secret" || str(doc, "metadata", "name") != "devflow-secrets" {
		t.Fatalf("secret.example.yaml is not the Secret devflow-secrets")
	}
	return doc
}

func TestManifests_EveryVariableIsInTheConfigMapOrTheSecret(t *testing.T) {
	all := load(t)
	config := envKeys(find(t, all, "ConfigMap", "devflow-config").doc)
	secret := envKeys(secretTemplate(t))
	for _, name := range serviceVariables {
		_, inConfig := config[name]
		_, inSecret := secret[name]
		if !inConfig && !inSecret {
			t.Errorf("%s is in neither the ConfigMap nor the Secret template", name)
		}
		if inConfig && inSecret {
			t.Errorf("%s is in both the ConfigMap and the Secret template", name)
		}
	}
	for _, name := range secretVariables {
		if _, ok := secret[name]; !ok {
			t.Errorf("secret %s is not in the Secret template", name)
		}
	}
	for name := range config {
		if !slices.Contains(serviceVariables, name) {
			t.Errorf("ConfigMap sets %s, which the service does not read", name)
		}
	}
	if config["MIGRATE_ON_START"] != "false" {
		t.Errorf("MIGRATE_ON_START = %q: replicas must leave migrations to the Job", config["MIGRATE_ON_START"])
	}
	if config["EVENTSTORE_URL"] != "" {
		t.Errorf("the base must use the PostgreSQL event log, EVENTSTORE_URL = %q", config["EVENTSTORE_URL"])
	}
}

// container returns the first container of a pod template holder.
func container(m manifest) object {
	c, _ := dig(m.doc, "spec", "template", "spec", "containers", "0").(object)
	return c
}

func envFrom(c object) (configMaps, secrets []string) {
	list, _ := c["envFrom"].([]any)
	for _, e := range list {
		if n := str(e, "configMapRef", "name"); n != "" {
			configMaps = append(configMaps, n)
		}
		if n := str(e, "secretRef", "name"); n != "" {
			secrets = append(secrets, n)
		}
	}
	return
}

func portNumber(c object, name string) int {
	ports, _ := c["ports"].([]any)
	for _, p := range ports {
		if str(p, "name") == name {
			n, _ := dig(p, "containerPort").(int)
			return n
		}
	}
	return 0
}

func TestManifests_DeploymentRunsTwoProbedGracefulReplicas(t *testing.T) {
	all := load(t)
	dep := find(t, all, "Deployment", "devflow")
	if n, _ := dig(dep.doc, "spec", "replicas").(int); n < 2 {
		t.Errorf("replicas = %d, want at least 2", n)
	}
	c := container(dep)
	if c == nil {
		t.Fatal("Deployment has no container")
	}
	if args := dig(c, "args"); !slices.Equal(toStrings(args), []string{"serve"}) {
		t.Errorf("container args %v, want [serve]", args)
	}
	for probe, want := range map[string]string{
		"livenessProbe":  "/api/v1/health",
		"readinessProbe": "/api/v1/ready",
		"startupProbe":   "/api/v1/health",
	} {
		if got := str(c, probe, "httpGet", "path"); got != want {
			t.Errorf("%s path %q, want %q", probe, got, want)
		}
		if port := str(c, probe, "httpGet", "port"); port != "http" {
			t.Errorf("%s port %q, want the named port http", probe, port)
		}
	}
	config := envKeys(find(t, all, "ConfigMap", "devflow-config").doc)
	if got := strconv.Itoa(portNumber(c, "http")); got != config["PORT"] {
		t.Errorf("container port http %s, PORT %s", got, config["PORT"])
	}
	if got := ":" + strconv.Itoa(portNumber(c, "metrics")); got != config["METRICS_ADDR"] {
		t.Errorf("container port metrics %s, METRICS_ADDR %s", got, config["METRICS_ADDR"])
	}
	for _, k := range [][]string{{"requests", "cpu"}, {"requests", "memory"}, {"limits", "cpu"}, {"limits", "memory"}} {
		if dig(c, append([]string{"resources"}, k...)...) == nil {
			t.Errorf("no resources.%s", strings.Join(k, "."))
		}
	}
	// The Go runtime's soft memory limit sits at the memory request, below the limit.
	var memLimit string
	env, _ := c["env"].([]any)
	for _, e := range env {
		if e, _ := e.(object); e["name"] == "GOMEMLIMIT" {
			memLimit, _ = e["value"].(string)
		}
	}
	if request := str(c, "resources", "requests", "memory"); memLimit != strings.TrimSuffix(request, "i")+"iB" || request == str(c, "resources", "limits", "memory") {
		t.Errorf("GOMEMLIMIT %q, want the memory request %s (below the limit %s) in the runtime's units", memLimit, request, str(c, "resources", "limits", "memory"))
	}
	// Graceful termination: the grace period covers the preStop sleep and the drain.
	grace, _ := dig(dep.doc, "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
	sleep, _ := dig(c, "lifecycle", "preStop", "sleep", "seconds").(int)
	drain, _ := strconv.Atoi(config["SHUTDOWN_TIMEOUT_SECONDS"])
	if sleep == 0 || grace <= sleep+drain {
		t.Errorf("terminationGracePeriodSeconds %d must exceed preStop sleep %d + SHUTDOWN_TIMEOUT_SECONDS %d", grace, sleep, drain)
	}
	if dig(dep.doc, "spec", "template", "spec", "securityContext", "runAsNonRoot") != true {
		t.Error("pods may run as root")
	}
	cms, secrets := envFrom(c)
	if !slices.Equal(cms, []string{"devflow-config"}) || !slices.Equal(secrets, []string{"devflow-secrets"}) {
		t.Errorf("envFrom config maps %v, secrets %v", cms, secrets)
	}

	svc := find(t, all, "Service", "devflow")
	podLabels, _ := dig(dep.doc, "spec", "template", "metadata", "labels").(object)
	selector, _ := dig(svc.doc, "spec", "selector").(object)
	for k, v := range selector {
		if podLabels[k] != v {
			t.Errorf("Service selects %s=%v, pods carry %v", k, v, podLabels[k])
		}
	}
	if str(svc.doc, "spec", "ports", "0", "targetPort") != "http" {
		t.Error("the Service's first port does not target http")
	}
}

func TestManifests_MigrationJobRunsMigrateWithTheSameEnvironment(t *testing.T) {
	all := load(t)
	job := find(t, all, "Job", "devflow-migrate")
	c := container(job)
	if got := toStrings(dig(c, "args")); !slices.Equal(got, []string{"migrate"}) {
		t.Errorf("job args %v, want [migrate]", got)
	}
	if p := str(job.doc, "spec", "template", "spec", "restartPolicy"); p != "Never" && p != "OnFailure" {
		t.Errorf("restartPolicy %q", p)
	}
	dep := find(t, all, "Deployment", "devflow")
	jc, js := envFrom(c)
	dc, ds := envFrom(container(dep))
	if !slices.Equal(jc, dc) || !slices.Equal(js, ds) {
		t.Errorf("job env from %v/%v, deployment from %v/%v", jc, js, dc, ds)
	}
	if str(c, "image") != str(container(dep), "image") {
		t.Error("the job and the deployment run different images")
	}
}

func TestManifests_EventStoreDBVariantPointsAtItsService(t *testing.T) {
	all := load(t)
	var url string
	for _, m := range all {
		if isPatch(m) && str(m.doc, "kind") == "ConfigMap" {
			url = str(m.doc, "data", "EVENTSTORE_URL")
		}
	}
	if !strings.HasPrefix(url, "esdb://") {
		t.Fatalf("the EventStoreDB overlay sets EVENTSTORE_URL %q, want esdb://…", url)
	}
	host := strings.SplitN(strings.TrimPrefix(url, "esdb://"), ":", 2)[0]
	find(t, all, "Service", host)
	sts := find(t, all, "StatefulSet", host)
	if dig(sts.doc, "spec", "template", "spec", "enableServiceLinks") != false {
		t.Error("EventStoreDB would read injected EVENTSTORE_* service links as options")
	}
}

func TestDockerfile_MultiStageNonRootServe(t *testing.T) {
	raw, err := Files.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	var finalStage []string
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "FROM ") {
			froms = append(froms, line)
			finalStage = nil
		}
		finalStage = append(finalStage, line)
	}
	if len(froms) < 2 {
		t.Fatalf("%d stages, want a multi-stage build", len(froms))
	}
	if !strings.Contains(string(raw), "go build") || !strings.Contains(string(raw), "./cmd/devflow\n") {
		t.Error("the build stage does not build ./cmd/devflow")
	}
	final := strings.Join(finalStage, "\n")
	for _, want := range []string{"USER 65532", "EXPOSE 3000", `ENTRYPOINT ["/usr/local/bin/devflow"]`, `CMD ["serve"]`} {
		if !strings.Contains(final, want) {
			t.Errorf("final stage lacks %q:\n%s", want, final)
		}
	}
	if strings.Contains(final, " AS ") {
		t.Error("the default (last) stage must be the service image")
	}
}

// isHarness tells the private-PostgreSQL helpers for laptops and tests and the
// test-support packages (named …test, like httptest) apart from the deployed code: what
// they read is not deployment configuration.
func isHarness(dir string) bool {
	return dir == "pgharness" || dir == "testdb" || strings.HasSuffix(dir, "test")
}

var (
	// In infra/config every variable is a quoted upper-case name; elsewhere only names
	// handed to os.Getenv / os.LookupEnv count.
	quotedName = regexp.MustCompile(`"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)"`)
	getenvName = regexp.MustCompile(`os\.(?:Getenv|LookupEnv)\("([A-Z][A-Z0-9_]*)"\)`)
)

// TestManifests_CoverWhatTheSourceReads cross-checks the hard list above against the
// code: every variable name in infra/config (and any os.Getenv elsewhere in infra and
// cmd/devflow) must be deployed or deliberately not.
func TestManifests_CoverWhatTheSourceReads(t *testing.T) {
	root := ".."
	if _, err := os.Stat(filepath.Join(root, "infra", "config")); err != nil {
		t.Skip("infra/config not in this tree")
	}
	seen := map[string]string{}
	scan := func(dir string, re *regexp.Regexp) {
		_ = filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && isHarness(d.Name()) {
				return filepath.SkipDir
			}
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			src, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range re.FindAllStringSubmatch(string(src), -1) {
				seen[m[1]] = p
			}
			return nil
		})
	}
	scan(filepath.Join("infra", "config"), quotedName)
	scan("infra", getenvName)
	scan(filepath.Join("cmd", "devflow"), getenvName)
	if len(seen) < 30 {
		t.Fatalf("found only %d variable names in the source; has infra/config changed shape?", len(seen))
	}
	for name, where := range seen {
		if !slices.Contains(serviceVariables, name) && !slices.Contains(notDeployed, name) {
			t.Errorf("%s (read in %s) is neither in the manifests' variable list nor deliberately left out", name, where)
		}
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, len(list))
	for i, x := range list {
		out[i], _ = x.(string)
	}
	return out
}
