package deploy

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller"
)

// repoRoot is the kperf repository: the parent of this module.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !bytes.Contains(b, []byte("module github.com/kperf/kperf\n")) {
		t.Fatalf("%s is not the kperf repository (go.mod: %v)", root, err)
	}
	return root
}

// sharedTestdata finds the project's shared test data: $KPERF_SHARED_TESTDATA,
// or the first shared/testdata found walking up from the repository (it is
// a sibling of the repository: ../shared/testdata from its root). It is not
// part of the repository; a test that needs it fails without it.
func sharedTestdata(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("KPERF_SHARED_TESTDATA"); d != "" {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			t.Fatalf("KPERF_SHARED_TESTDATA=%s: not a directory", d)
		}
		return d
	}
	start := repoRoot(t)
	for dir := start; ; dir = filepath.Dir(dir) {
		d := filepath.Join(dir, "shared", "testdata")
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	t.Fatalf("shared test data not found: no shared/testdata in %s or any parent directory, and KPERF_SHARED_TESTDATA is not set", start)
	return ""
}

// images are the image names scripts/image builds by default; every
// manifest must use these.
type images struct{ agent, controller string }

var (
	imageRegistryRE = regexp.MustCompile(`(?m)^registry=\$\{KPERF_IMAGE_REGISTRY:-([^}]+)\}$`)
	imageTagRE      = regexp.MustCompile(`(?m)^tag=\$\{KPERF_IMAGE_TAG:-([^}]+)\}$`)
)

func imageNames(t *testing.T) images {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "scripts", "image"))
	if err != nil {
		t.Fatal(err)
	}
	reg, tag := imageRegistryRE.FindSubmatch(b), imageTagRE.FindSubmatch(b)
	if reg == nil || tag == nil {
		t.Fatalf("scripts/image: no registry=${KPERF_IMAGE_REGISTRY:-...} or tag=${KPERF_IMAGE_TAG:-...} line")
	}
	return images{
		agent:      fmt.Sprintf("%s/kperf:%s", reg[1], tag[1]),
		controller: fmt.Sprintf("%s/kperf-controller:%s", reg[1], tag[1]),
	}
}

// The flags below mirror the kperf-agent and kperf-controller flag contract
// (README.md and docs/deploy.md): manifests may pass only these. Plan keys
// of the controller come from the real controller.BindPlanFlags.

var (
	agentValueFlags = []string{"listen", "health-listen", "metrics-addr", "tls-cert", "tls-key", "tls-ca",
		"token-file", "log-level", "max-workers", "max-record-size", "max-buffer-bytes", "max-duration", "ready-file",
		"drain-timeout"}
	agentBoolFlags = []string{"pprof", "insecure", "log-json", "version"}

	controllerValueFlags = []string{"f", "agents", "local", "out", "dial-timeout", "expect-agents", "discovery-timeout",
		"log-level", "tls-ca", "tls-cert", "tls-key", "tls-server-name", "token-file", "metrics-addr",
		"advise-partitions", "consumer-throughput"}
	controllerBoolFlags = []string{"insecure", "pprof", "log-json", "resume"}
)

// flagValues registers value and bool flags on fs and returns a function
// that, after fs.Parse, gives the flags that were set and their values
// (bools as "true").
func flagValues(fs *flag.FlagSet, value, boolean []string) func() map[string]string {
	for _, n := range value {
		fs.String(n, "", "")
	}
	for _, n := range boolean {
		fs.Bool(n, false, "")
	}
	return func() map[string]string {
		set := map[string]string{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = f.Value.String() })
		return set
	}
}

// parseAgentArgs parses kperf-agent arguments; unknown flags and
// positional arguments are errors.
func parseAgentArgs(args []string) (map[string]string, error) {
	fs := flag.NewFlagSet("kperf-agent", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	get := flagValues(fs, agentValueFlags, agentBoolFlags)
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("kperf-agent %q: %w", args, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("kperf-agent %q: unexpected argument %q", args, fs.Arg(0))
	}
	return get(), nil
}

// parseRunArgs parses kperf-controller run arguments as the controller
// does: the contract's flags plus a flag per plan key
// (controller.BindPlanFlags), list flags expanded, the -f plan read with
// readPlan and parsed by controller.ParsePlan, flags applied over it, and
// the result checked by controller.Resolve. It returns the flags that were
// set and the plan.
func parseRunArgs(args []string, readPlan func(path string) ([]byte, error)) (map[string]string, *kperfv1.TestPlan, error) {
	if len(args) == 0 || args[0] != "run" {
		return nil, nil, fmt.Errorf("kperf-controller %q: want the run command first", args)
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	get := flagValues(fs, controllerValueFlags, controllerBoolFlags)
	pf := controller.BindPlanFlags(fs)
	if err := fs.Parse(controller.ExpandListArgs(args[1:], pf.ListFlags())); err != nil {
		return nil, nil, fmt.Errorf("kperf-controller %q: %w", args, err)
	}
	if fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("kperf-controller %q: unexpected argument %q", args, fs.Arg(0))
	}
	set := get()
	spec := &kperfv1.TestPlan{}
	if path := set["f"]; path != "" {
		b, err := readPlan(path)
		if err != nil {
			return nil, nil, fmt.Errorf("plan -f %s: %w", path, err)
		}
		if spec, err = controller.ParsePlan(b); err != nil {
			return nil, nil, fmt.Errorf("plan -f %s: %w", path, err)
		}
	}
	if err := pf.Apply(spec); err != nil {
		return nil, nil, err
	}
	if _, err := controller.Resolve(spec); err != nil {
		return nil, nil, fmt.Errorf("plan: %w", err)
	}
	return set, spec, nil
}

// listenPort returns the port of a listen address ":N", failing on any
// other form.
func listenPort(addr string) (int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	if host != "" {
		return 0, fmt.Errorf("%s: want all interfaces (:port), not host %s", addr, host)
	}
	return strconv.Atoi(port)
}
