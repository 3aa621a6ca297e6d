package agent

// Default ports of an agent. Manifests (deploy/k8s, deploy/marathon) use
// these same numbers.
const (
	// DefaultPort serves kperf.v1.AgentService and grpc.health.v1 (TLS when
	// the agent has a certificate).
	DefaultPort = 7070
	// DefaultHealthPort is the conventional port for --health-listen: a
	// plaintext listener serving only grpc.health.v1, for probes that cannot
	// speak TLS (Kubernetes gRPC probes).
	DefaultHealthPort = 7071
	// DefaultMetricsPort is the conventional port for --metrics-addr
	// (Prometheus /metrics).
	DefaultMetricsPort = 9090
)
