package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kperf/kperf/agent"
	"github.com/kperf/kperf/internal/grpcauth"
	"github.com/kperf/kperf/internal/testcert"
)

// startSecureAgent serves an agent on 127.0.0.1 with sec until the test
// ends and returns its address.
func startSecureAgent(t *testing.T, sec grpcauth.Server) string {
	t.Helper()
	opts, err := sec.Options()
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agent.Serve(ctx, lis, agent.New(agent.WithVersion("v-test")), agent.WithServerOptions(opts...))
	}()
	t.Cleanup(func() { cancel(); <-done })
	return lis.Addr().String()
}

// TestAgentSecurity runs the agents command against agents with TLS,
// mutual TLS and a bearer token: the right credentials list the agent,
// each wrong one is refused with a line that says what is wrong.
func TestAgentSecurity(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.MustCA(t, dir, "ca")
	other := testcert.MustCA(t, dir, "other-ca")
	server := ca.MustIssue(t, dir, "agent", "127.0.0.1")
	client := ca.MustIssue(t, dir, "controller")
	stranger := other.MustIssue(t, dir, "stranger")
	token := filepath.Join(dir, "token")
	wrongToken := filepath.Join(dir, "wrong-token")
	if err := os.WriteFile(token, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wrongToken, []byte("guess"), 0o600); err != nil {
		t.Fatal(err)
	}

	tlsAgent := startSecureAgent(t, grpcauth.Server{CertFile: server.CertFile, KeyFile: server.KeyFile})
	mtlsAgent := startSecureAgent(t, grpcauth.Server{CertFile: server.CertFile, KeyFile: server.KeyFile, ClientCAFile: ca.CertFile})
	tokenAgent := startSecureAgent(t, grpcauth.Server{CertFile: server.CertFile, KeyFile: server.KeyFile, TokenFile: token})
	plainTokenAgent := startSecureAgent(t, grpcauth.Server{TokenFile: token})

	run := func(args ...string) (code int, stdout, stderr string) {
		stderr = captureStderr(t, func() {
			stdout = captureStdout(t, func() { code = agentsCmd(append(args, "--dial-timeout", "2s")) })
		})
		return
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // on stderr; empty: success listing the agent
	}{
		{"tls", []string{"--agents", tlsAgent, "--tls-ca", ca.CertFile}, ""},
		{"mtls", []string{"--agents", mtlsAgent, "--tls-ca", ca.CertFile, "--tls-cert", client.CertFile, "--tls-key", client.KeyFile}, ""},
		{"token over tls", []string{"--agents", tokenAgent, "--tls-ca", ca.CertFile, "--token-file", token}, ""},
		{"token in plaintext with --insecure", []string{"--agents", plainTokenAgent, "--token-file", token, "--insecure"}, ""},

		{"wrong ca", []string{"--agents", tlsAgent, "--tls-ca", other.CertFile}, "TLS handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{"plaintext to a tls agent", []string{"--agents", tlsAgent}, "error reading server preface"},
		{"plaintext to a tls agent, with the hint", []string{"--agents", tlsAgent}, "(an agent serving TLS closes plaintext connections: give --tls-ca)"},
		{"no client certificate", []string{"--agents", mtlsAgent, "--tls-ca", ca.CertFile}, "TLS handshake failed: the agent requires a client certificate (mutual TLS): give --tls-cert and --tls-key"},
		{"client certificate from another ca", []string{"--agents", mtlsAgent, "--tls-ca", ca.CertFile, "--tls-cert", stranger.CertFile, "--tls-key", stranger.KeyFile}, "the agent accepts client certificates from [CN=ca], and --tls-cert " + stranger.CertFile + " is not issued by one"},
		{"no token", []string{"--agents", tokenAgent, "--tls-ca", ca.CertFile}, "no bearer token"},
		{"wrong token", []string{"--agents", tokenAgent, "--tls-ca", ca.CertFile, "--token-file", wrongToken}, "wrong bearer token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(tc.args...)
			if tc.want == "" {
				if code != exitOK || !strings.Contains(out, "v-test") {
					t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
				}
				return
			}
			if code != exitFailed || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Fatalf("exit %d, stderr %q; want exit %d and one line with %q", code, errOut, exitFailed, tc.want)
			}
		})
	}
}

func TestAgentSecurityUsageErrors(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--agents", "h1:7070", "--token-file", token}, "--token-file without TLS would send the token in the clear"},
		{[]string{"--agents", "h1:7070", "--token-file", empty, "--insecure"}, "--token-file " + empty + " is empty"},
		{[]string{"--agents", "h1:7070", "--tls-ca", filepath.Join(dir, "missing.crt")}, "--tls-ca: open"},
		{[]string{"--agents", "h1:7070", "--tls-ca", token}, "--tls-ca: " + token + " holds no PEM certificate"},
		{[]string{"--agents", "h1:7070", "--tls-cert", token}, "--tls-cert and --tls-key go together"},
		{[]string{"--agents", "h1:7070", "--tls-server-name", "x"}, "--tls-server-name needs --tls-ca"},
	} {
		var code int
		msg := captureStderr(t, func() { code = agentsCmd(tc.args) })
		if code != exitUsage || !strings.Contains(msg, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 with %q", tc.args, code, msg, tc.want)
		}
	}
}
