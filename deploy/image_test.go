package deploy

import (
	"debug/elf"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kperf/kperf/agent"
)

const dockerfile = "image/Dockerfile"

// stage is one stage of the Dockerfile, as far as these tests read it.
type stage struct {
	name, base string
	entrypoint []string
	user       string
	expose     []int
	copies     [][]string
	runs       []string
}

// parseDockerfile reads the instructions the tests check; continuation
// lines are joined and comments dropped.
func parseDockerfile(t *testing.T) []stage {
	t.Helper()
	var lines []string
	cont := ""
	for _, ln := range strings.Split(string(mustRead(t, dockerfile)), "\n") {
		ln = strings.TrimSpace(ln)
		if strings.HasPrefix(ln, "#") || (ln == "" && cont == "") {
			continue
		}
		if strings.HasSuffix(ln, "\\") {
			cont += strings.TrimSuffix(ln, "\\") + " "
			continue
		}
		lines = append(lines, cont+ln)
		cont = ""
	}
	var stages []stage
	for _, ln := range lines {
		instr, rest, _ := strings.Cut(ln, " ")
		instr = strings.ToUpper(instr)
		if instr == "FROM" {
			f := strings.Fields(rest)
			s := stage{base: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if instr != "ARG" {
				t.Fatalf("%s: %s before the first FROM", dockerfile, instr)
			}
			continue
		}
		s := &stages[len(stages)-1]
		switch instr {
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &s.entrypoint); err != nil {
				t.Fatalf("%s: ENTRYPOINT %s: want the exec (JSON) form: %v", dockerfile, rest, err)
			}
		case "USER":
			s.user = rest
		case "EXPOSE":
			for _, p := range strings.Fields(rest) {
				n, err := strconv.Atoi(p)
				if err != nil {
					t.Fatalf("%s: EXPOSE %s: %v", dockerfile, p, err)
				}
				s.expose = append(s.expose, n)
			}
		case "COPY":
			s.copies = append(s.copies, strings.Fields(rest))
		case "RUN":
			s.runs = append(s.runs, rest)
		}
	}
	return stages
}

func stageNamed(t *testing.T, stages []stage, name string) stage {
	t.Helper()
	for _, s := range stages {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("%s: no stage %s", dockerfile, name)
	return stage{}
}

func TestDockerfileMatchesManifests(t *testing.T) {
	stages := parseDockerfile(t)
	if last := stages[len(stages)-1]; last.name != "agent" {
		t.Errorf("%s: last stage (the default target) is %q, want agent", dockerfile, last.name)
	}
	base := render(t, k8sBase)
	pods := map[string]int64{
		"agent":      *base.deployments[agentName].Spec.Template.Spec.SecurityContext.RunAsUser,
		"controller": *base.jobs[controllerName].Spec.Template.Spec.SecurityContext.RunAsUser,
	}
	for _, name := range []string{"agent", "controller"} {
		s := stageNamed(t, stages, name)
		bin := "/usr/local/bin/kperf-" + name
		if !slices.Equal(s.entrypoint, []string{bin}) {
			t.Errorf("stage %s ENTRYPOINT %q, want [%s]", name, s.entrypoint, bin)
		}
		if !strings.HasPrefix(s.base, "gcr.io/distroless/static") || !strings.HasSuffix(s.base, ":nonroot") {
			t.Errorf("stage %s FROM %s, want distroless static, nonroot", name, s.base)
		}
		uid, _, _ := strings.Cut(s.user, ":")
		if n, err := strconv.ParseInt(uid, 10, 64); err != nil || n == 0 || n != pods[name] {
			t.Errorf("stage %s USER %q: want the numeric non-root user the Kubernetes pods run as (%d)", name, s.user, pods[name])
		}
		want := []string{"--from=build", "/out/kperf-" + name, bin}
		if !slices.ContainsFunc(s.copies, func(c []string) bool { return slices.Equal(c, want) }) {
			t.Errorf("stage %s copies %q, want COPY %s", name, s.copies, strings.Join(want, " "))
		}
	}
	ag := stageNamed(t, stages, "agent")
	if want := []int{agent.DefaultPort, agent.DefaultHealthPort, agent.DefaultMetricsPort}; !slices.Equal(ag.expose, want) {
		t.Errorf("agent EXPOSE %v, want %v (agent.Default*Port)", ag.expose, want)
	}
	argv, env := buildCommand(t, stages)
	if !slices.Contains(env, "CGO_ENABLED=0") || !slices.Contains(argv, "-trimpath") {
		t.Errorf("build %q %q: want CGO_ENABLED=0 and -trimpath (static, reproducible)", env, argv)
	}
	for _, pkg := range []string{"./cmd/kperf-agent", "./cmd/kperf-controller"} {
		if !slices.Contains(argv, pkg) {
			t.Errorf("build %q does not build %s", argv, pkg)
		}
	}
	if i := slices.Index(argv, "-o"); i < 0 || i+1 >= len(argv) || argv[i+1] != "/out/" {
		t.Errorf("build %q: want -o /out/ (where the stages copy from)", argv)
	}
}

// buildCommand returns the go build command of the build stage: its
// arguments (from "go") and the environment assignments before it.
func buildCommand(t *testing.T, stages []stage) (argv, env []string) {
	t.Helper()
	for _, r := range stageNamed(t, stages, "build").runs {
		words := shellWords(t, r)
		for i, w := range words {
			if w == "go" && i+1 < len(words) && words[i+1] == "build" {
				return words[i:], words[:i]
			}
		}
	}
	t.Fatalf("%s: the build stage has no RUN ... go build", dockerfile)
	return nil, nil
}

// shellWords splits a RUN line into words: blanks separate, double quotes
// group. Anything fancier is refused.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	if strings.ContainsAny(s, "'`;&|<>") {
		t.Fatalf("RUN %s: too much shell for this test's splitter", s)
	}
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("RUN %s: unbalanced quote", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// TestImageBuildCommand runs the Dockerfile's go build (with its version
// stamp) on this machine and checks the binaries: static, and reporting
// the version they were stamped with.
func TestImageBuildCommand(t *testing.T) {
	argv, env := buildCommand(t, parseDockerfile(t))
	const version = "deploy-test-1.2.3"
	out := t.TempDir()
	for i, a := range argv {
		a = strings.ReplaceAll(a, "${VERSION}", version)
		if a == "/out/" {
			a = out + string(filepath.Separator)
		}
		argv[i] = a
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%q: %v\n%s", argv, err, b)
	}
	for bin, versionArgs := range map[string][]string{"kperf-agent": {"--version"}, "kperf-controller": {"version"}} {
		p := filepath.Join(out, bin)
		checkStatic(t, p)
		b, err := exec.Command(p, versionArgs...).Output()
		if err != nil || strings.TrimSpace(string(b)) != version {
			t.Errorf("%s %s = %q, %v; want %s", bin, versionArgs[0], b, err, version)
		}
	}
	checkFlagsExist(t, helpFlags(t, filepath.Join(out, "kperf-agent")), helpFlags(t, filepath.Join(out, "kperf-controller"), "run"))
}

// checkFlagsExist checks that every flag the manifests pass to the agent
// and to kperf-controller run is a flag of the binaries just built.
func checkFlagsExist(t *testing.T, agentFlags, runFlags map[string]bool) {
	t.Helper()
	agentUses, runUses := manifestFlags(t)
	for f, where := range agentUses {
		if !agentFlags[f] {
			t.Errorf("%s: kperf-agent has no flag --%s", strings.Join(where, ", "), f)
		}
	}
	for f, where := range runUses {
		if !runFlags[f] {
			t.Errorf("%s: kperf-controller run has no flag --%s", strings.Join(where, ", "), f)
		}
	}
}

// helpFlags runs bin args... -h and returns the flag names it lists.
func helpFlags(t *testing.T, bin string, args ...string) map[string]bool {
	t.Helper()
	b, _ := exec.Command(bin, append(args, "-h")...).CombinedOutput() // -h may exit non-zero
	flags := map[string]bool{}
	for _, ln := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(ln, "  -"); ok {
			name, _, _ := strings.Cut(rest, " ")
			flags[strings.TrimPrefix(name, "-")] = true
		}
	}
	if len(flags) < 5 {
		t.Fatalf("%s %s -h lists flags %v; cannot read its usage\n%s", bin, strings.Join(args, " "), flags, b)
	}
	return flags
}

// manifestFlags collects the flags every manifest passes to kperf-agent and
// to kperf-controller run, each with where it is used.
func manifestFlags(t *testing.T) (agentUses, runUses map[string][]string) {
	t.Helper()
	agentUses, runUses = map[string][]string{}, map[string][]string{}
	add := func(m map[string][]string, set map[string]string, where string) {
		for f := range set {
			m[f] = append(m[f], where)
		}
	}
	for _, dir := range kustomizations(t) {
		st := render(t, dir)
		if d, ok := st.deployments[agentName]; ok {
			args, err := parseAgentArgs(container(t, d.Spec.Template.Spec, agentName).Args)
			if err != nil {
				t.Fatal(err)
			}
			add(agentUses, args, dir)
		}
		if job, ok := st.jobs[controllerName]; ok {
			args, _ := runArgsOf(t, st, job, container(t, job.Spec.Template.Spec, controllerName))
			add(runUses, args, dir)
		}
	}
	for _, p := range marathonPairs {
		var app marathonApp
		if err := json.Unmarshal(mustRead(t, p.app), &app); err != nil {
			t.Fatal(err)
		}
		args, err := parseAgentArgs(app.Args)
		if err != nil {
			t.Fatal(err)
		}
		add(agentUses, args, p.app)
		var job metronomeJob
		decodeStrict(t, p.job, &job)
		runArgs, _, err := parseRunArgs(job.Run.Args, func(string) ([]byte, error) { return nil, errors.New("no plan file") })
		if err != nil {
			t.Fatal(err)
		}
		add(runUses, runArgs, p.job)
	}
	return agentUses, runUses
}

// checkStatic fails unless p is an ELF executable without a dynamic
// loader or shared libraries, as distroless static needs.
func checkStatic(t *testing.T, p string) {
	t.Helper()
	f, err := elf.Open(p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Errorf("%s has a dynamic loader (PT_INTERP): not static", p)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s imports %v (%v): not static", p, libs, err)
	}
}

func TestScriptsImageNamesMatchManifests(t *testing.T) {
	imgs := imageNames(t)
	if imgs.agent == imgs.controller {
		t.Fatalf("agent and controller images are both %s", imgs.agent)
	}
	// The manifests tests compare every image to these; here, that the
	// script builds exactly these two, from the stages of the Dockerfile.
	b := string(mustRead(t, filepath.Join(repoRoot(t), "scripts", "image")))
	for _, want := range []string{
		`agent_image="$registry/kperf:$tag"`,
		`controller_image="$registry/kperf-controller:$tag"`,
		`build controller "$controller_image"`,
		`build agent "$agent_image"`,
		`-f deploy/image/Dockerfile`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("scripts/image lacks %s", want)
		}
	}
}

// TestScriptsImageWithoutEngine runs scripts/image where the only engine
// client is a docker whose daemon does not answer: one line saying so,
// exit 1.
func TestScriptsImageWithoutEngine(t *testing.T) {
	bin := t.TempDir()
	for _, tool := range []string{"bash", "dirname"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(bin, "docker"), "#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
	if err := os.Chmod(filepath.Join(bin, "docker"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "bash"), filepath.Join(repoRoot(t), "scripts", "image"))
	cmd.Env = []string{"PATH=" + bin}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("scripts/image without an engine: %v, want exit status 1\nstderr: %s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "no container engine") || !strings.Contains(lines[0], "docker: installed, but 'docker info' fails") ||
		!strings.Contains(lines[0], "podman: not installed") {
		t.Errorf("scripts/image stderr %q: want one line naming each engine and why it cannot build", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("scripts/image stdout %q: want nothing (no image names when none was built)", stdout.String())
	}
}
