package deploy

// The Marathon app definitions are validated against Marathon's published
// app-definition JSON schema, AppDefinition.json from mesosphere/marathon
// (docs/docs/rest-api/public/api/v2/schema/AppDefinition.json, tag
// v1.7.236, Apache License 2.0). It is read from the project's shared test
// data (../shared/testdata/marathon beside the repository, or
// $KPERF_SHARED_TESTDATA/marathon), not kept in this repository.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kperf/kperf/agent"
	"github.com/kperf/kperf/controller"
	"github.com/kperf/kperf/controller/discover"
)

// sandbox is where a Mesos task with a container image finds its sandbox.
const sandbox = "/mnt/mesos/sandbox"

// The Marathon and DC/OS files and which belong together.
var marathonPairs = []struct {
	app, job string
	insecure bool
}{
	{"marathon/kperf-agent.json", "marathon/kperf-controller-job.json", false},
	{"marathon/kperf-agent-insecure.json", "marathon/kperf-controller-job-insecure.json", true},
}

// appSchema compiles AppDefinition.json with every other JSON file of its
// directory loaded as a resource (for $refs to siblings); nothing is
// fetched from elsewhere.
func appSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	dir := filepath.Join(sharedTestdata(t), "marathon")
	main := filepath.Join(dir, "AppDefinition.json")
	if _, err := os.Stat(main); err != nil {
		t.Fatalf("Marathon app-definition schema: %v (want mesosphere/marathon's AppDefinition.json in shared/testdata/marathon)", err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(refuseLoader{})
	for _, f := range files {
		doc := readJSON(t, f)
		if f == main {
			if m, ok := doc.(map[string]any); !ok || m["$schema"] != "http://json-schema.org/draft-04/schema#" {
				t.Fatalf("%s: $schema is not draft-04; check which draft it is written in", f)
			}
		}
		if err := c.AddResource(fileURL(f), doc); err != nil {
			t.Fatalf("schema resource %s: %v", f, err)
		}
	}
	sch, err := c.Compile(fileURL(main))
	if err != nil {
		t.Fatalf("compile %s: %v", main, err)
	}
	return sch
}

func fileURL(p string) string { return "file://" + filepath.ToSlash(p) }

// refuseLoader loads nothing: every schema the app schema refers to must be
// among the files added.
type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema %s is not in shared/testdata/marathon; not fetching it", url)
}

func readJSON(t *testing.T, p string) any {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return doc
}

// validateApp validates an app definition against the schema. File-based
// secret volumes ({"containerPath", "secret"}: Marathon 1.5 and later,
// DC/OS Enterprise) are newer than the published JSON schema, whose volumes
// forbid other keys; they are checked here instead (exactly those two keys,
// an absolute path, a secret the app declares) and taken out before the
// rest of the app is validated as published.
func validateApp(sch *jsonschema.Schema, doc any) error {
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	view, err := jsonschema.UnmarshalJSON(bytes.NewReader(b)) // a copy
	if err != nil {
		return err
	}
	app, ok := view.(map[string]any)
	if !ok {
		return fmt.Errorf("an app definition is a JSON object")
	}
	secrets, _ := app["secrets"].(map[string]any)
	if ctr, ok := app["container"].(map[string]any); ok {
		if vols, ok := ctr["volumes"].([]any); ok {
			var kept []any
			for i, v := range vols {
				vol, ok := v.(map[string]any)
				if _, isSecret := vol["secret"]; !ok || !isSecret {
					kept = append(kept, v)
					continue
				}
				name, _ := vol["secret"].(string)
				p, _ := vol["containerPath"].(string)
				switch {
				case len(vol) != 2 || p == "":
					return fmt.Errorf("container.volumes[%d]: a secret volume has exactly containerPath and secret", i)
				case !filepath.IsAbs(p):
					return fmt.Errorf("container.volumes[%d]: containerPath %q: want an absolute path", i, p)
				case secrets[name] == nil:
					return fmt.Errorf("container.volumes[%d]: secret %q is not declared in secrets", i, name)
				}
			}
			ctr["volumes"] = kept
			if kept == nil {
				delete(ctr, "volumes")
			}
		}
	}
	return sch.Validate(app)
}

// secretRef declares a secret of the DC/OS secret store.
type secretRef struct {
	Source string `json:"source"`
}

// marathonApp is the part of an app definition the invariants look at.
type marathonApp struct {
	ID          string     `json:"id"`
	Instances   int        `json:"instances"`
	Cpus        float64    `json:"cpus"`
	Mem         float64    `json:"mem"`
	Constraints [][]string `json:"constraints"`
	Container   struct {
		Type   string `json:"type"`
		Docker struct {
			Image string `json:"image"`
		} `json:"docker"`
		Volumes []struct {
			ContainerPath string `json:"containerPath"`
			Secret        string `json:"secret"`
		} `json:"volumes"`
	} `json:"container"`
	Secrets  map[string]secretRef `json:"secrets"`
	Networks []struct {
		Mode string `json:"mode"`
	} `json:"networks"`
	PortDefinitions []struct {
		Port     int    `json:"port"`
		Name     string `json:"name"`
		Protocol string `json:"protocol"`
	} `json:"portDefinitions"`
	Cmd          string   `json:"cmd"`
	Args         []string `json:"args"`
	HealthChecks []struct {
		Protocol  string `json:"protocol"`
		PortIndex *int   `json:"portIndex"`
		Port      *int   `json:"port"`
	} `json:"healthChecks"`
	UpgradeStrategy *struct {
		MinimumHealthCapacity *float64 `json:"minimumHealthCapacity"`
		MaximumOverCapacity   *float64 `json:"maximumOverCapacity"`
	} `json:"upgradeStrategy"`
	Labels                     map[string]string `json:"labels"`
	TaskKillGracePeriodSeconds float64           `json:"taskKillGracePeriodSeconds"`
}

// metronomeJob is a DC/OS (Metronome) job definition; unknown keys are
// errors when decoding it.
type metronomeJob struct {
	ID          string            `json:"id"`
	Description string            `json:"description"`
	Labels      map[string]string `json:"labels"`
	Run         struct {
		Cpus float64 `json:"cpus"`
		Mem  float64 `json:"mem"`
		Disk float64 `json:"disk"`
		UCR  *struct {
			Image struct {
				ID   string `json:"id"`
				Kind string `json:"kind"`
			} `json:"image"`
		} `json:"ucr"`
		Cmd     string               `json:"cmd"`
		Args    []string             `json:"args"`
		Secrets map[string]secretRef `json:"secrets"`
		Volumes []struct {
			ContainerPath string `json:"containerPath"`
			Secret        string `json:"secret"`
		} `json:"volumes"`
		Restart struct {
			Policy string `json:"policy"`
		} `json:"restart"`
		MaxLaunchDelay int `json:"maxLaunchDelay"`
	} `json:"run"`
}

func TestMarathonFilesAreKnown(t *testing.T) {
	files, err := filepath.Glob("marathon/*")
	if err != nil {
		t.Fatal(err)
	}
	var known []string
	for _, p := range marathonPairs {
		known = append(known, p.app, p.job)
	}
	for _, f := range files {
		if !slices.Contains(known, filepath.ToSlash(f)) {
			t.Errorf("%s is not checked by these tests", f)
		}
	}
}

func TestMarathonAppsMatchSchema(t *testing.T) {
	sch := appSchema(t)
	for _, p := range marathonPairs {
		t.Run(p.app, func(t *testing.T) {
			if err := validateApp(sch, readJSON(t, p.app)); err != nil {
				t.Errorf("%s against Marathon's AppDefinition.json: %s", p.app, details(err))
			}
		})
	}
}

// TestMarathonSchemaRejectsBrokenApps shows that the validation catches
// what Marathon would refuse, starting from the real app each time.
func TestMarathonSchemaRejectsBrokenApps(t *testing.T) {
	sch := appSchema(t)
	tests := []struct {
		name   string
		mutate func(app map[string]any)
		want   string // in the error's details
	}{
		{"constraints not a list of lists", func(a map[string]any) { a["constraints"] = []any{"hostname", "UNIQUE"} }, "at '/constraints/0'"},
		{"unknown constraint operator", func(a map[string]any) { a["constraints"] = []any{[]any{"hostname", "UNIQ"}} }, "at '/constraints/0/1'"},
		{"mis-cased key", func(a map[string]any) { a["portdefinitions"] = a["portDefinitions"]; delete(a, "portDefinitions") }, "'portdefinitions' not allowed"},
		{"port name with capitals", func(a map[string]any) {
			a["portDefinitions"].([]any)[0].(map[string]any)["name"] = "GRPC"
		}, "at '/portDefinitions/0/name'"},
		{"health check protocol", func(a map[string]any) {
			a["healthChecks"].([]any)[0].(map[string]any)["protocol"] = "GRPC"
		}, "at '/healthChecks/0/protocol'"},
		{"over capacity above 1", func(a map[string]any) {
			a["upgradeStrategy"].(map[string]any)["maximumOverCapacity"] = json.Number("2")
		}, "at '/upgradeStrategy/maximumOverCapacity'"},
		{"both cmd and args", func(a map[string]any) { a["cmd"] = "kperf-agent" }, "'not' failed"},
		{"volume with an unknown key", func(a map[string]any) {
			c := a["container"].(map[string]any)
			c["volumes"] = append(c["volumes"].([]any), map[string]any{"containerPath": "/x", "secrt": "tls-ca"})
		}, "'secrt' not allowed"},
		{"secret volume naming no secret", func(a map[string]any) {
			c := a["container"].(map[string]any)
			c["volumes"] = append(c["volumes"].([]any), map[string]any{"containerPath": "/x", "secret": "nope"})
		}, "\"nope\" is not declared in secrets"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app := readJSON(t, marathonPairs[0].app).(map[string]any)
			if err := validateApp(sch, app); err != nil {
				t.Fatalf("unbroken app: %v", err)
			}
			tc.mutate(app)
			err := validateApp(sch, app)
			if err == nil {
				t.Fatalf("validateApp accepted the app with %s", tc.name)
			}
			if got := details(err); !strings.Contains(got, tc.want) {
				t.Errorf("validateApp error = %s, want it to say %s", got, tc.want)
			}
		})
	}
}

// details is err with a schema validation error's every location.
func details(err error) string {
	if ve, ok := err.(*jsonschema.ValidationError); ok {
		return fmt.Sprintf("%#v", ve)
	}
	return err.Error()
}

func decodeStrict(t *testing.T, p string, v any) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
}

func TestMarathonAgentApps(t *testing.T) {
	imgs := imageNames(t)
	for _, p := range marathonPairs {
		t.Run(p.app, func(t *testing.T) {
			// TestMarathonAppsMatchSchema checks every key; this reads the
			// ones the invariants need.
			var app marathonApp
			if err := json.Unmarshal(mustRead(t, p.app), &app); err != nil {
				t.Fatal(err)
			}
			checkMarathonApp(t, app, imgs, p.insecure)
		})
	}
}

func checkMarathonApp(t *testing.T, app marathonApp, imgs images, insecure bool) {
	t.Helper()
	if app.ID != "/"+agentName {
		t.Errorf("app id %s, want /%s (the job's SRV name depends on it)", app.ID, agentName)
	}
	if app.Instances < 1 || app.Cpus <= 0 || app.Mem <= 0 {
		t.Errorf("instances %d, cpus %v, mem %v: want all positive", app.Instances, app.Cpus, app.Mem)
	}
	if !slices.ContainsFunc(app.Constraints, func(c []string) bool { return slices.Equal(c, []string{"hostname", "UNIQUE"}) }) {
		t.Errorf("constraints %v: want [hostname UNIQUE] (one agent per host)", app.Constraints)
	}
	if app.Container.Type != "MESOS" || app.Container.Docker.Image != imgs.agent {
		t.Errorf("container %s image %s: want MESOS (UCR, needed for file-based secrets) with %s (scripts/image)", app.Container.Type, app.Container.Docker.Image, imgs.agent)
	}
	if len(app.Networks) != 1 || app.Networks[0].Mode != "host" {
		t.Errorf("networks %+v: want host networking (the agent listens on the host ports Marathon assigns)", app.Networks)
	}
	var names []string
	for _, pd := range app.PortDefinitions {
		names = append(names, pd.Name)
		if pd.Protocol != "tcp" {
			t.Errorf("port %s protocol %q, want tcp", pd.Name, pd.Protocol)
		}
	}
	// Index 0 is grpc: PORT0 is the agent's fallback for --listen and the
	// health check's portIndex.
	if !slices.Equal(names, []string{"grpc", "health", "metrics"}) {
		t.Errorf("port definitions %v, want [grpc health metrics] (PORT_GRPC, PORT_HEALTH, PORT_METRICS)", names)
	}
	mesosTCP := 0
	for _, hc := range app.HealthChecks {
		switch {
		case hc.Protocol == "MESOS_TCP" && hc.PortIndex != nil && *hc.PortIndex == 0 && hc.Port == nil:
			mesosTCP++
		default:
			t.Errorf("health check %s (portIndex %s, port %s): want only a MESOS_TCP check on portIndex 0 (grpc)", hc.Protocol, intOrNone(hc.PortIndex), intOrNone(hc.Port))
		}
	}
	if mesosTCP != 1 {
		t.Errorf("%d MESOS_TCP health checks on the grpc port, want 1", mesosTCP)
	}
	us := app.UpgradeStrategy
	if us == nil || us.MaximumOverCapacity == nil || us.MinimumHealthCapacity == nil ||
		*us.MaximumOverCapacity != 0 || *us.MinimumHealthCapacity >= 1 {
		t.Errorf("upgradeStrategy %s: want maximumOverCapacity 0 and minimumHealthCapacity below 1, so an upgrade stops old agents first when every host already runs one", mustJSON(us))
	}

	if app.Cmd != "" {
		t.Errorf("cmd %q: the image has no shell; want args", app.Cmd)
	}
	for _, a := range app.Args {
		if strings.Contains(a, "$") {
			t.Errorf("arg %q: Marathon does not expand variables in args", a)
		}
	}
	args, err := parseAgentArgs(app.Args)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"listen", "health-listen", "metrics-addr"} {
		if v, ok := args[f]; ok {
			t.Errorf("--%s=%s: the agent takes its ports from PORT_GRPC, PORT_HEALTH and PORT_METRICS", f, v)
		}
	}
	drain := agent.DefaultDrainTimeout
	if v, ok := args["drain-timeout"]; ok {
		if drain, err = time.ParseDuration(v); err != nil {
			t.Errorf("--drain-timeout=%s: %v", v, err)
		}
	}
	if g := time.Duration(app.TaskKillGracePeriodSeconds * float64(time.Second)); g <= drain {
		t.Errorf("taskKillGracePeriodSeconds %v: want more than the agent's drain timeout %v, so a stopping agent can send its final report", app.TaskKillGracePeriodSeconds, drain)
	}
	if v, err := strconv.ParseInt(args["max-buffer-bytes"], 10, 64); err != nil || float64(v) >= app.Mem*(1<<20) {
		t.Errorf("--max-buffer-bytes=%s: want below mem %v MiB", args["max-buffer-bytes"], app.Mem)
	}

	secretPaths := map[string]bool{}
	for _, v := range app.Container.Volumes {
		if v.Secret != "" && app.Secrets[v.Secret].Source != "" {
			secretPaths[v.ContainerPath] = true
		}
	}
	checkTLSArgs(t, args, secretPaths, insecure, []string{"tls-cert", "tls-key", "tls-ca"})
	if insecure {
		if _, ok := args["insecure"]; !ok {
			t.Errorf("args %q: no TLS, so want --insecure", app.Args)
		}
		if !strings.Contains(app.Labels["kperf.io/insecure"], "THROWAWAY") {
			t.Errorf("labels %v: want kperf.io/insecure marking the app for throwaway clusters", app.Labels)
		}
	} else if _, ok := args["insecure"]; ok {
		t.Errorf("args %q: --insecure in an app not marked insecure", app.Args)
	}
}

// checkTLSArgs checks that the TLS flags are all given, each a secret
// file, or with insecure that none is.
func checkTLSArgs(t *testing.T, args map[string]string, secretPaths map[string]bool, insecure bool, flags []string) {
	t.Helper()
	for _, f := range flags {
		v, ok := args[f]
		switch {
		case insecure && ok:
			t.Errorf("insecure: --%s given", f)
		case !insecure && !ok:
			t.Errorf("no --%s", f)
		case !insecure && !secretPaths[v]:
			t.Errorf("--%s=%s: not a secret volume's containerPath (secret volumes: %v)", f, v, secretPaths)
		}
	}
	if _, ok := args["token-file"]; ok && insecure {
		t.Errorf("insecure: --token-file given")
	}
}

func TestDCOSControllerJobs(t *testing.T) {
	imgs := imageNames(t)
	for _, p := range marathonPairs {
		t.Run(p.job, func(t *testing.T) {
			var app marathonApp
			if err := json.Unmarshal(mustRead(t, p.app), &app); err != nil {
				t.Fatal(err)
			}
			var job metronomeJob
			decodeStrict(t, p.job, &job)
			r := job.Run
			if r.UCR == nil || r.UCR.Image.ID != imgs.controller {
				t.Errorf("job image %+v: want ucr image %s (scripts/image)", r.UCR, imgs.controller)
			}
			if r.Cmd != "" {
				t.Errorf("cmd %q: the image has no shell; want args", r.Cmd)
			}
			if r.Restart.Policy != "NEVER" {
				t.Errorf("restart policy %q, want NEVER: a load test is not re-run behind the user's back", r.Restart.Policy)
			}
			if r.Cpus <= 0 || r.Mem < 32 || r.Disk <= 0 {
				t.Errorf("cpus %v mem %v disk %v: want positive (disk holds the results)", r.Cpus, r.Mem, r.Disk)
			}
			for _, a := range r.Args {
				if strings.Contains(a, "$") {
					t.Errorf("arg %q: Metronome does not expand variables in args", a)
				}
			}
			args, spec, err := parseRunArgs(r.Args, func(p string) ([]byte, error) {
				return nil, fmt.Errorf("the job fetches no plan file; give the plan as flags")
			})
			if err != nil {
				t.Fatal(err)
			}

			// Mesos-DNS names the SRV records of a named port
			// _<port name>._<app>._tcp.marathon.mesos; _<app>._tcp.marathon.mesos
			// holds every port of every task (health and metrics too).
			appName := strings.TrimPrefix(app.ID, "/")
			want := fmt.Sprintf("srv:_%s._%s._tcp.marathon.mesos", app.PortDefinitions[0].Name, appName)
			if args["agents"] != want {
				t.Errorf("--agents=%s, want %s", args["agents"], want)
			}
			srvName := strings.TrimPrefix(want, "srv:")
			dns := fakeDNS{srv: map[string][]*net.SRV{srvName: {
				{Target: "kperf-agent-a1b2c-s1.marathon.mesos.", Port: 31001},
				{Target: "kperf-agent-d3e4f-s2.marathon.mesos.", Port: 31044},
			}}}
			addrs, err := discover.Resolve(context.Background(), args["agents"], dns)
			wantAddrs := []string{"kperf-agent-a1b2c-s1.marathon.mesos:31001", "kperf-agent-d3e4f-s2.marathon.mesos:31044"}
			if err != nil || !slices.Equal(addrs, wantAddrs) {
				t.Errorf("discover.Resolve(%s) = %v, %v; want %v", args["agents"], addrs, err, wantAddrs)
			}
			if args["expect-agents"] != strconv.Itoa(app.Instances) {
				t.Errorf("--expect-agents=%s, want the app's instances %d", args["expect-agents"], app.Instances)
			}
			if spec.GetSweep() != nil {
				if _, err := controller.ExpandSweep(spec, app.Instances); err != nil {
					t.Errorf("sweep with the app's %d agents: %v", app.Instances, err)
				}
			}
			if out := args["out"]; !strings.HasPrefix(out, sandbox+"/") {
				t.Errorf("--out=%s: want it in the task sandbox %s, where dcos task download finds it", out, sandbox)
			}

			secretPaths := map[string]bool{}
			for _, v := range r.Volumes {
				if v.Secret != "" && r.Secrets[v.Secret].Source != "" && filepath.IsAbs(v.ContainerPath) {
					secretPaths[v.ContainerPath] = true
				}
			}
			checkTLSArgs(t, args, secretPaths, p.insecure, []string{"tls-ca", "tls-cert", "tls-key"})
			if _, ok := args["insecure"]; ok {
				t.Errorf("args %q: the controller needs no --insecure without a token", r.Args)
			}
			if !p.insecure && args["tls-server-name"] == "" {
				t.Errorf("no --tls-server-name: agents are dialled by the SRV target names, which change per task")
			}
			if p.insecure && !strings.Contains(job.Labels["kperf.io/insecure"], "THROWAWAY") {
				t.Errorf("labels %v: want kperf.io/insecure marking the job for throwaway clusters", job.Labels)
			}
		})
	}
}

func intOrNone(p *int) string {
	if p == nil {
		return "none"
	}
	return strconv.Itoa(*p)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
