package deploy

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/kperf/kperf/agent"
	kperfv1 "github.com/kperf/kperf/api/proto/kperf/v1"
	"github.com/kperf/kperf/controller"
	"github.com/kperf/kperf/controller/discover"
)

// The kustomizations under k8s/ and what each must be.
const (
	k8sBase          = "k8s/base"
	k8sSweep25       = "k8s/overlays/sweep-25"
	k8sInsecure      = "k8s/overlays/insecure-test"
	k8sResultsReader = "k8s/results-reader"
)

// Names the manifests share.
const (
	agentName      = "kperf-agent"
	controllerName = "kperf-controller"
	hostnameKey    = "kubernetes.io/hostname"
)

// stack is one rendered kustomization, every object decoded strictly into
// its Kubernetes type.
type stack struct {
	dir         string
	namespaces  map[string]*corev1.Namespace
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	jobs        map[string]*batchv1.Job
	configMaps  map[string]*corev1.ConfigMap
	pvcs        map[string]*corev1.PersistentVolumeClaim
	pods        map[string]*corev1.Pod
	// namespace is the namespace of the stack's namespaced objects.
	namespace string
}

func scheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// strictDecoder is the API machinery's decoder with strict field checking:
// unknown, duplicate and mis-cased fields are errors.
func strictDecoder(t *testing.T) runtime.Decoder {
	return serializer.NewCodecFactory(scheme(t), serializer.EnableStrict).UniversalDeserializer()
}

// kustomize renders the kustomization in dir in-process, as
// kubectl apply -k does, and returns each resource as YAML.
func kustomize(dir string) ([][]byte, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	var out [][]byte
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("kustomize %s: %s: %w", dir, r.CurId(), err)
		}
		out = append(out, y)
	}
	return out, nil
}

// render renders dir and decodes every object strictly into its type.
func render(t *testing.T, dir string) *stack {
	t.Helper()
	docs, err := kustomize(dir)
	if err != nil {
		t.Fatal(err)
	}
	dec := strictDecoder(t)
	st := &stack{dir: dir, namespaces: map[string]*corev1.Namespace{}, deployments: map[string]*appsv1.Deployment{},
		services: map[string]*corev1.Service{}, jobs: map[string]*batchv1.Job{}, configMaps: map[string]*corev1.ConfigMap{},
		pvcs: map[string]*corev1.PersistentVolumeClaim{}, pods: map[string]*corev1.Pod{}}
	nsOf := map[string]bool{}
	for _, doc := range docs {
		obj, gvk, err := dec.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: strict decode: %v\n%s", dir, err, doc)
		}
		var meta metav1.Object
		switch o := obj.(type) {
		case *corev1.Namespace:
			st.namespaces[o.Name] = o
			continue
		case *appsv1.Deployment:
			st.deployments[o.Name], meta = o, o
		case *corev1.Service:
			st.services[o.Name], meta = o, o
		case *batchv1.Job:
			st.jobs[o.Name], meta = o, o
		case *corev1.ConfigMap:
			st.configMaps[o.Name], meta = o, o
		case *corev1.PersistentVolumeClaim:
			st.pvcs[o.Name], meta = o, o
		case *corev1.Pod:
			st.pods[o.Name], meta = o, o
		default:
			t.Fatalf("%s: %v %T is not a kind these tests check", dir, gvk, obj)
		}
		nsOf[meta.GetNamespace()] = true
	}
	if len(nsOf) != 1 || nsOf[""] {
		t.Fatalf("%s: namespaced objects are in namespaces %v; want all in one, set", dir, nsOf)
	}
	for ns := range nsOf {
		st.namespace = ns
	}
	return st
}

// kustomizations lists every directory under k8s/ with a
// kustomization.yaml.
func kustomizations(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir("k8s", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "kustomization.yaml" {
			dirs = append(dirs, filepath.ToSlash(filepath.Dir(p)))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

func TestEveryKustomizationRendersAndDecodesStrictly(t *testing.T) {
	dirs := kustomizations(t)
	for _, want := range []string{k8sBase, k8sSweep25, k8sInsecure, k8sResultsReader} {
		if !slices.Contains(dirs, want) {
			t.Errorf("kustomizations under k8s/ = %v, want %s among them", dirs, want)
		}
	}
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			st := render(t, dir)
			n := len(st.deployments) + len(st.services) + len(st.jobs) + len(st.configMaps) + len(st.pvcs) + len(st.pods)
			if n == 0 {
				t.Errorf("%s renders no objects", dir)
			}
		})
	}
}

// TestStrictDecoderRejectsMisspelledFields shows that the decoder the other
// tests use catches what a lax decode silently drops: a mis-cased field
// (containerport) and an unknown one (replica).
func TestStrictDecoderRejectsMisspelledFields(t *testing.T) {
	tests := []struct {
		name, field, manifest string
	}{
		{"mis-cased", "containerport", `apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
        - name: c
          image: i
          ports:
            - containerport: 7070
`},
		{"unknown", "replica", `apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  replica: 3
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: c, image: i}]
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "kustomization.yaml"), "resources: [deployment.yaml]\n")
			write(t, filepath.Join(dir, "deployment.yaml"), tc.manifest)
			docs, err := kustomize(dir)
			if err != nil {
				t.Fatal(err) // kustomize itself does not check fields
			}
			if len(docs) != 1 {
				t.Fatalf("rendered %d objects, want 1", len(docs))
			}
			lax := serializer.NewCodecFactory(scheme(t)).UniversalDeserializer()
			if _, _, err := lax.Decode(docs[0], nil, nil); err != nil {
				t.Fatalf("lax decode: %v (want it to drop the field silently)", err)
			}
			_, _, err = strictDecoder(t).Decode(docs[0], nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("strict decode error = %v, want one naming %q", err, tc.field)
			}
		})
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAgentsAndControllerJob(t *testing.T) {
	imgs := imageNames(t)
	for _, tc := range []struct {
		dir      string
		insecure bool
		replicas int32
	}{
		{k8sBase, false, 3},
		{k8sSweep25, false, 25},
		{k8sInsecure, true, 3},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			st := render(t, tc.dir)
			if _, ok := st.namespaces[st.namespace]; !ok {
				t.Errorf("no Namespace object %s for the objects' namespace", st.namespace)
			}
			d := checkAgents(t, st, imgs, tc.insecure)
			if got := *d.Spec.Replicas; got != tc.replicas {
				t.Errorf("agent replicas = %d, want %d", got, tc.replicas)
			}
			checkControllerJob(t, st, imgs, tc.insecure)
		})
	}
}

// checkAgents checks the agent Deployment and its headless Service and
// returns the Deployment.
func checkAgents(t *testing.T, st *stack, imgs images, insecure bool) *appsv1.Deployment {
	t.Helper()
	d, ok := st.deployments[agentName]
	if !ok {
		t.Fatalf("%s: no Deployment %s", st.dir, agentName)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 1 {
		t.Errorf("Deployment %s: replicas %v, want a positive count", agentName, d.Spec.Replicas)
	}
	podLabels := labels.Set(d.Spec.Template.Labels)
	if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil || !sel.Matches(podLabels) {
		t.Errorf("Deployment selector %v does not select its pods %v (%v)", d.Spec.Selector, podLabels, err)
	}

	// Every node may already run an agent: a surge pod could never be placed.
	surge := -1
	if rs := d.Spec.Strategy.RollingUpdate; d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType && rs != nil && rs.MaxSurge != nil {
		if v, err := intstr.GetScaledValueFromIntOrPercent(rs.MaxSurge, 100, true); err == nil {
			surge = v
		}
	}
	if surge != 0 {
		t.Errorf("Deployment strategy %+v: want RollingUpdate with maxSurge 0", d.Spec.Strategy)
	}

	pod := d.Spec.Template.Spec
	aff := pod.Affinity
	if aff == nil || aff.PodAntiAffinity == nil {
		t.Fatalf("agent pods have no pod anti-affinity")
	}
	spread := false
	for _, term := range aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if err == nil && term.TopologyKey == hostnameKey && sel.Matches(podLabels) && len(term.Namespaces) == 0 && term.NamespaceSelector == nil {
			spread = true
		}
	}
	if !spread {
		t.Errorf("agent pod anti-affinity %+v: want a required term on %s selecting the agent pods", aff.PodAntiAffinity, hostnameKey)
	}

	c := container(t, pod, agentName)
	if c.Image != imgs.agent {
		t.Errorf("agent image %s, want %s (scripts/image)", c.Image, imgs.agent)
	}
	if len(c.Command) != 0 {
		t.Errorf("agent command %q: want the image's entrypoint (kperf-agent)", c.Command)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		if p.Protocol != corev1.ProtocolTCP {
			t.Errorf("agent port %s protocol %s, want TCP", p.Name, p.Protocol)
		}
		ports[p.Name] = p.ContainerPort
	}
	wantPorts := map[string]int32{"grpc": agent.DefaultPort, "health": agent.DefaultHealthPort, "metrics": agent.DefaultMetricsPort}
	if fmt.Sprint(ports) != fmt.Sprint(wantPorts) {
		t.Errorf("agent container ports %v, want %v (agent.Default*Port)", ports, wantPorts)
	}

	args, err := parseAgentArgs(c.Args)
	if err != nil {
		t.Fatal(err)
	}
	for flagName, want := range map[string]int32{"listen": agent.DefaultPort, "health-listen": agent.DefaultHealthPort, "metrics-addr": agent.DefaultMetricsPort} {
		v, set := args[flagName]
		if !set {
			if flagName == "listen" {
				continue // the default, :7070
			}
			t.Errorf("agent args %q: no --%s (the container declares port %d for it)", c.Args, flagName, want)
			continue
		}
		if p, err := listenPort(v); err != nil || int32(p) != want {
			t.Errorf("agent --%s=%s: want :%d (%v)", flagName, v, want, err)
		}
	}

	// Kubelet gRPC probes cannot speak TLS: they go to the plaintext
	// health listener.
	for name, pr := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if pr == nil || pr.GRPC == nil || pr.HTTPGet != nil || pr.TCPSocket != nil || pr.Exec != nil {
			t.Errorf("agent %s probe %+v: want a gRPC probe", name, pr)
			continue
		}
		if pr.GRPC.Port != agent.DefaultHealthPort || pr.GRPC.Service != nil && *pr.GRPC.Service != "" {
			t.Errorf("agent %s probe port %d service %v: want the health port %d, overall health", name, pr.GRPC.Port, pr.GRPC.Service, agent.DefaultHealthPort)
		}
	}

	drain := agent.DefaultDrainTimeout
	if v, ok := args["drain-timeout"]; ok {
		if drain, err = time.ParseDuration(v); err != nil {
			t.Errorf("agent --drain-timeout=%s: %v", v, err)
		}
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= drain {
		t.Errorf("agent terminationGracePeriodSeconds %v: want more than the drain timeout %v, so a stopping agent can send its final report", g, drain)
	}

	checkPodSecurity(t, "agent", pod, c)
	mem := checkResources(t, "agent", c)
	if v, ok := args["max-buffer-bytes"]; !ok {
		t.Errorf("agent args %q: no --max-buffer-bytes; its default (4 GiB) is above the memory limit %s", c.Args, mem.String())
	} else if n, err := strconv.ParseInt(v, 10, 64); err != nil || n >= mem.Value() {
		t.Errorf("agent --max-buffer-bytes=%s: want below the memory limit %s (%d bytes)", v, mem.String(), mem.Value())
	}

	tlsFlags := []string{"tls-cert", "tls-key", "tls-ca"}
	if insecure {
		if _, ok := args["insecure"]; !ok {
			t.Errorf("agent args %q: no TLS, so want --insecure", c.Args)
		}
		for _, f := range append(tlsFlags, "token-file") {
			if _, ok := args[f]; ok {
				t.Errorf("insecure agent args %q: --%s given", c.Args, f)
			}
		}
	} else {
		if _, ok := args["insecure"]; ok {
			t.Errorf("agent args %q: --insecure outside the insecure-test overlay", c.Args)
		}
		for _, f := range tlsFlags {
			v, ok := args[f]
			if !ok {
				t.Errorf("agent args %q: no --%s (agents listen beyond loopback)", c.Args, f)
				continue
			}
			checkSecretFile(t, "agent --"+f, pod, c, v)
		}
	}

	svc, ok := st.services[agentName]
	if !ok {
		t.Fatalf("%s: no Service %s", st.dir, agentName)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s clusterIP %q, want None (headless: one DNS record per agent)", agentName, svc.Spec.ClusterIP)
	}
	if svc.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s publishes agents that are not ready", agentName)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) || len(svc.Spec.Selector) == 0 {
		t.Errorf("Service %s selector %v does not select the agent pods %v", agentName, svc.Spec.Selector, podLabels)
	}
	grpcPort := false
	for _, p := range svc.Spec.Ports {
		if p.Name == "grpc" {
			grpcPort = p.Port == agent.DefaultPort && p.Protocol == corev1.ProtocolTCP &&
				(p.TargetPort == intstr.FromString("grpc") || p.TargetPort == intstr.FromInt32(agent.DefaultPort))
		}
	}
	if !grpcPort {
		t.Errorf("Service %s ports %+v: want a TCP port named grpc, %d, to the agents' grpc port (SRV _grpc._tcp)", agentName, svc.Spec.Ports, agent.DefaultPort)
	}
	return d
}

// checkControllerJob checks the controller Job against the agents, the
// plan ConfigMap and the results volume of st.
func checkControllerJob(t *testing.T, st *stack, imgs images, insecure bool) {
	t.Helper()
	job, ok := st.jobs[controllerName]
	if !ok {
		t.Fatalf("%s: no Job %s", st.dir, controllerName)
	}
	if job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit != 0 {
		t.Errorf("Job backoffLimit %v, want 0: a load test is not re-run behind the user's back", job.Spec.BackoffLimit)
	}
	pod := job.Spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("Job restartPolicy %s, want Never", pod.RestartPolicy)
	}
	c := container(t, pod, controllerName)
	if c.Image != imgs.controller {
		t.Errorf("controller image %s, want %s (scripts/image)", c.Image, imgs.controller)
	}
	if len(c.Command) != 0 {
		t.Errorf("controller command %q: want the image's entrypoint (kperf-controller)", c.Command)
	}
	argv := expandEnv(t, c)
	args, spec, err := parseRunArgs(argv, planReader(st, pod, c))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := args["f"]; !ok {
		t.Errorf("controller args %q: no -f plan", argv)
	}

	// --agents names the headless Service of this namespace.
	d := st.deployments[agentName]
	replicas := int(*d.Spec.Replicas)
	wantAgents := fmt.Sprintf("dns:///%s.%s.svc.cluster.local:%d", agentName, st.namespace, agent.DefaultPort)
	if args["agents"] != wantAgents {
		t.Errorf("controller --agents=%s, want %s", args["agents"], wantAgents)
	}
	if err := discover.Check(args["agents"]); err != nil {
		t.Errorf("controller --agents: %v", err)
	}
	host := fmt.Sprintf("%s.%s.svc.cluster.local", agentName, st.namespace)
	ips := fakeDNS{hosts: map[string][]net.IPAddr{host: {{IP: net.IPv4(10, 0, 0, 3)}, {IP: net.IPv4(10, 0, 0, 1)}, {IP: net.IPv4(10, 0, 0, 2)}}}}
	addrs, err := discover.Resolve(context.Background(), args["agents"], ips)
	want := []string{"10.0.0.1:7070", "10.0.0.2:7070", "10.0.0.3:7070"}
	if err != nil || !slices.Equal(addrs, want) {
		t.Errorf("discover.Resolve(%s) with the Service's three pods = %v, %v; want %v", args["agents"], addrs, err, want)
	}
	if got := args["expect-agents"]; got != strconv.Itoa(replicas) {
		t.Errorf("controller --expect-agents=%s, want the agent replicas %d", got, replicas)
	}
	if spec.GetSweep() != nil {
		sw, err := controller.ExpandSweep(spec, replicas)
		if err != nil {
			t.Errorf("plan sweep with %d agents: %v", replicas, err)
		} else if len(sw.Steps) == 0 {
			t.Errorf("plan sweep has no steps")
		}
	}

	out, ok := args["out"]
	if !ok {
		t.Errorf("controller args %q: no --out", argv)
	} else if vol, _, err := mountedFile(pod, c, out); err != nil {
		t.Errorf("controller --out=%s: %v", out, err)
	} else if vol.PersistentVolumeClaim == nil || st.pvcs[vol.PersistentVolumeClaim.ClaimName] == nil {
		t.Errorf("controller --out=%s is on volume %s, want a PersistentVolumeClaim of the kustomization", out, vol.Name)
	}
	// The root file system is read-only; sweep warm-ups write under /tmp.
	if vol, _, err := mountedFile(pod, c, "/tmp/kperf-warmup-1"); err != nil || vol.EmptyDir == nil {
		t.Errorf("controller /tmp: want an emptyDir mounted there (%v)", err)
	}

	checkPodSecurity(t, "controller", pod, c)
	checkResources(t, "controller", c)

	tlsFlags := []string{"tls-ca", "tls-cert", "tls-key"}
	if insecure {
		for _, f := range append(tlsFlags, "tls-server-name", "token-file") {
			if _, ok := args[f]; ok {
				t.Errorf("plaintext controller args %q: --%s given", argv, f)
			}
		}
		return
	}
	if _, ok := args["insecure"]; ok {
		t.Errorf("controller args %q: --insecure outside the insecure-test overlay", argv)
	}
	for _, f := range tlsFlags {
		v, ok := args[f]
		if !ok {
			t.Errorf("controller args %q: no --%s (mutual TLS with the agents)", argv, f)
			continue
		}
		checkSecretFile(t, "controller --"+f, pod, c, v)
	}
	// Agents are dialled by pod IP: the name to check in their
	// certificate has to be given.
	if args["tls-server-name"] == "" {
		t.Errorf("controller args %q: no --tls-server-name", argv)
	}
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expandEnv expands $(VAR) in c's args as the kubelet does, from c's env:
// literal values as written, fieldRef values as <field path>.
func expandEnv(t *testing.T, c corev1.Container) []string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil:
			env[e.Name] = "<" + e.ValueFrom.FieldRef.FieldPath + ">"
		}
	}
	out := make([]string, len(c.Args))
	for i, a := range c.Args {
		out[i] = envRef.ReplaceAllStringFunc(a, func(ref string) string {
			name := envRef.FindStringSubmatch(ref)[1]
			v, ok := env[name]
			if !ok {
				t.Errorf("container %s arg %q: $(%s) is not in its env", c.Name, a, name)
			}
			return v
		})
	}
	return out
}

func container(t *testing.T, pod corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range pod.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

// mountedFile finds the volume that file p is on in container c, and the
// file's path inside that volume.
func mountedFile(pod corev1.PodSpec, c corev1.Container, p string) (corev1.Volume, string, error) {
	var best *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/") && (best == nil || len(m.MountPath) > len(best.MountPath)) {
			best = &c.VolumeMounts[i]
		}
	}
	if best == nil {
		return corev1.Volume{}, "", fmt.Errorf("%s is on no volume mount of container %s", p, c.Name)
	}
	if best.SubPath != "" || best.SubPathExpr != "" {
		return corev1.Volume{}, "", fmt.Errorf("%s: mount %s uses a subPath", p, best.MountPath)
	}
	for _, v := range pod.Volumes {
		if v.Name == best.Name {
			return v, path.Clean(strings.TrimPrefix(p, strings.TrimSuffix(best.MountPath, "/")+"/")), nil
		}
	}
	return corev1.Volume{}, "", fmt.Errorf("%s: mount %s names no volume %s", p, best.MountPath, best.Name)
}

// checkSecretFile checks that file p is a key of a Secret mounted into c,
// readable by the pod's user.
func checkSecretFile(t *testing.T, what string, pod corev1.PodSpec, c corev1.Container, p string) {
	t.Helper()
	vol, key, err := mountedFile(pod, c, p)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if vol.Secret == nil || vol.Secret.SecretName == "" {
		t.Errorf("%s=%s: volume %s is not a Secret", what, p, vol.Name)
		return
	}
	keys := []string{"tls.crt", "tls.key", "ca.crt"} // a kubernetes.io/tls Secret with ca.crt
	if len(vol.Secret.Items) > 0 {
		keys = nil
		for _, it := range vol.Secret.Items {
			keys = append(keys, it.Path)
		}
	}
	if !slices.Contains(keys, key) {
		t.Errorf("%s=%s: %s is not among the keys %v of Secret %s", what, p, key, keys, vol.Secret.SecretName)
	}
	mode := int32(0o644)
	if vol.Secret.DefaultMode != nil {
		mode = *vol.Secret.DefaultMode
	}
	if mode&0o004 == 0 && (pod.SecurityContext == nil || pod.SecurityContext.FSGroup == nil) {
		t.Errorf("%s=%s: Secret %s mode %o is not world-readable and the pod sets no fsGroup: the non-root user cannot read it", what, p, vol.Secret.SecretName, mode)
	}
}

// checkPodSecurity checks that c runs as a non-root user with a read-only
// root file system, no capabilities and the runtime's seccomp profile.
func checkPodSecurity(t *testing.T, what string, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	ps := pod.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 {
		t.Errorf("%s pod security context %+v: want runAsNonRoot and a non-zero runAsUser", what, ps)
	}
	if ps == nil || ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s pod: want seccompProfile RuntimeDefault", what)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s pod mounts a service account token it does not use", what)
	}
	cs := c.SecurityContext
	switch {
	case cs == nil:
		t.Errorf("%s container has no security context", what)
	case cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem:
		t.Errorf("%s container: want readOnlyRootFilesystem", what)
	case cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation:
		t.Errorf("%s container: want allowPrivilegeEscalation false", what)
	case cs.Privileged != nil && *cs.Privileged:
		t.Errorf("%s container is privileged", what)
	case cs.RunAsUser != nil && *cs.RunAsUser == 0:
		t.Errorf("%s container runs as root", what)
	case cs.Capabilities == nil || !slices.Equal(cs.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(cs.Capabilities.Add) > 0:
		t.Errorf("%s container capabilities %+v: want drop [ALL], add none", what, cs.Capabilities)
	}
}

// checkResources checks that c has CPU and memory requests and limits, and
// returns the memory limit.
func checkResources(t *testing.T, what string, c corev1.Container) resource.Quantity {
	t.Helper()
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[name]
		lim, okLim := c.Resources.Limits[name]
		if !okReq || !okLim || req.IsZero() || lim.Cmp(req) < 0 {
			t.Errorf("%s container %s request %v limit %v: want both, limit >= request", what, name, req.String(), lim.String())
		}
	}
	return c.Resources.Limits[corev1.ResourceMemory]
}

// fakeDNS answers the names it holds and nothing else.
type fakeDNS struct {
	hosts map[string][]net.IPAddr
	srv   map[string][]*net.SRV
}

func (f fakeDNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	if a, ok := f.hosts[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (f fakeDNS) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	if service != "" || proto != "" {
		return "", nil, fmt.Errorf("LookupSRV(%q, %q, %q): want the whole name in name", service, proto, name)
	}
	if s, ok := f.srv[name]; ok {
		return name, s, nil
	}
	return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func TestSweep25Overlay(t *testing.T) {
	st := render(t, k8sSweep25)
	job := st.jobs[controllerName]
	if job == nil {
		t.Fatalf("no Job %s", controllerName)
	}
	c := container(t, job.Spec.Template.Spec, controllerName)
	args, spec := runArgsOf(t, st, job, c)
	if got := args["expect-agents"]; got != "25" {
		t.Errorf("--expect-agents=%s, want 25", got)
	}
	axes := spec.GetSweep().GetAxes()
	if len(axes) != 1 || axes[0].GetKey() != "agents" || !slices.Equal(axes[0].GetValues(), []string{"3", "10", "25"}) {
		t.Errorf("plan sweep axes %v, want agents 3, 10, 25", axes)
	}
	sw, err := controller.ExpandSweep(spec, 25)
	if err != nil {
		t.Fatal(err)
	}
	var agents []int
	for _, s := range sw.Steps {
		agents = append(agents, s.Agents)
	}
	if !slices.Equal(agents, []int{3, 10, 25}) {
		t.Errorf("sweep steps use %v agents, want [3 10 25]", agents)
	}
	// One agent fewer than the sweep's largest step is refused.
	if _, err := controller.ExpandSweep(spec, 24); err == nil {
		t.Errorf("ExpandSweep with 24 agents: no error, want the 25-agent step refused")
	}
}

// runArgsOf parses the controller container's arguments of st.
func runArgsOf(t *testing.T, st *stack, job *batchv1.Job, c corev1.Container) (map[string]string, *kperfv1.TestPlan) {
	t.Helper()
	args, spec, err := parseRunArgs(expandEnv(t, c), planReader(st, job.Spec.Template.Spec, c))
	if err != nil {
		t.Fatal(err)
	}
	return args, spec
}

// planReader reads a plan file of container c from the ConfigMap of st
// that is mounted there.
func planReader(st *stack, pod corev1.PodSpec, c corev1.Container) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		vol, key, err := mountedFile(pod, c, p)
		if err != nil {
			return nil, err
		}
		if vol.ConfigMap == nil {
			return nil, fmt.Errorf("volume %s is not a ConfigMap", vol.Name)
		}
		cm, ok := st.configMaps[vol.ConfigMap.Name]
		if !ok {
			return nil, fmt.Errorf("ConfigMap %s (volume %s) is not in the kustomization", vol.ConfigMap.Name, vol.Name)
		}
		data, ok := cm.Data[key]
		if !ok {
			return nil, fmt.Errorf("ConfigMap %s has no key %s", cm.Name, key)
		}
		return []byte(data), nil
	}
}

// TestScalingIsOneNumber changes only the agent count of a copy of k8s/
// (the base's replicas, the overlay's count) and checks that the
// controller then waits for that many agents.
func TestScalingIsOneNumber(t *testing.T) {
	for _, tc := range []struct {
		dir, file, from, to string
		want                int
	}{
		{k8sBase, "agent-deployment.yaml", "replicas: 3\n", "replicas: 7\n", 7},
		{k8sSweep25, "kustomization.yaml", "count: 25\n", "count: 40\n", 40},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			tmp := t.TempDir()
			if err := os.CopyFS(tmp, os.DirFS(".")); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(tmp, tc.dir, tc.file)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(b), tc.from); n != 1 {
				t.Fatalf("%s/%s has %q %d times, want once", tc.dir, tc.file, tc.from, n)
			}
			write(t, p, strings.Replace(string(b), tc.from, tc.to, 1))
			st := render(t, filepath.Join(tmp, tc.dir))
			if got := *st.deployments[agentName].Spec.Replicas; int(got) != tc.want {
				t.Errorf("agent replicas = %d, want %d", got, tc.want)
			}
			job := st.jobs[controllerName]
			args, _ := runArgsOf(t, st, job, container(t, job.Spec.Template.Spec, controllerName))
			if got := args["expect-agents"]; got != strconv.Itoa(tc.want) {
				t.Errorf("--expect-agents=%s after changing only the agent count to %d", got, tc.want)
			}
		})
	}
}

// TestInsecureOnlyInThrowawayFiles checks that --insecure appears in no
// deploy file but those made for throwaway test clusters.
func TestInsecureOnlyInThrowawayFiles(t *testing.T) {
	var found []string
	for _, root := range []string{"k8s", "marathon"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if strings.Contains(string(b), "--insecure") {
				found = append(found, filepath.ToSlash(p))
				if !strings.Contains(p, "insecure") {
					t.Errorf("%s: --insecure outside a file or overlay marked insecure", p)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Contains(found, k8sInsecure+"/agent-insecure.yaml") || !slices.Contains(found, "marathon/kperf-agent-insecure.json") {
		t.Errorf("--insecure found in %v, want it in the insecure overlay and the insecure Marathon app", found)
	}
}

func TestResultsReader(t *testing.T) {
	reader := render(t, k8sResultsReader)
	base := render(t, k8sBase)
	if reader.namespace != base.namespace {
		t.Errorf("results reader namespace %s, want the base's %s", reader.namespace, base.namespace)
	}
	if len(reader.pods) != 1 {
		t.Fatalf("results reader renders %d pods, want 1", len(reader.pods))
	}
	job := base.jobs[controllerName]
	jc := container(t, job.Spec.Template.Spec, controllerName)
	args, _ := runArgsOf(t, base, job, jc)
	jobVol, _, err := mountedFile(job.Spec.Template.Spec, jc, args["out"])
	if err != nil || jobVol.PersistentVolumeClaim == nil {
		t.Fatalf("controller --out=%s is not on a PersistentVolumeClaim (%v)", args["out"], err)
	}
	for _, pod := range reader.pods {
		if len(pod.Spec.Containers) != 1 {
			t.Fatalf("results reader has %d containers, want 1", len(pod.Spec.Containers))
		}
		c := pod.Spec.Containers[0]
		checkPodSecurity(t, "results reader", pod.Spec, c)
		checkResources(t, "results reader", c)
		vol, _, err := mountedFile(pod.Spec, c, "/results/x")
		if err != nil || vol.PersistentVolumeClaim == nil || vol.PersistentVolumeClaim.ClaimName != jobVol.PersistentVolumeClaim.ClaimName {
			t.Errorf("results reader /results: want the controller's claim %s mounted there (%v)", jobVol.PersistentVolumeClaim.ClaimName, err)
		} else if !vol.PersistentVolumeClaim.ReadOnly {
			t.Errorf("results reader mounts the results read-write; want read-only")
		}
		if pod.Spec.ActiveDeadlineSeconds == nil {
			t.Errorf("results reader pod runs forever; want an activeDeadlineSeconds")
		}
	}
}
