package props

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kperf/kperf/internal/testcert"
)

// testCA is a throwaway CA that signs certificates for tests, with its
// certificate and those it issues as PEM text.
type testCA struct {
	ca  *testcert.CA
	pem string
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	ca := testcert.MustCA(t, t.TempDir(), name)
	return &testCA{ca: ca, pem: readText(t, ca.CertFile)}
}

// issue returns a PEM certificate and PEM PKCS#8 key for host names dns.
func (ca *testCA) issue(t *testing.T, cn string, dns ...string) (certPEM, keyPEM string) {
	t.Helper()
	p, err := ca.ca.Issue(t.TempDir(), cn, dns...)
	if err != nil {
		t.Fatal(err)
	}
	return readText(t, p.CertFile), readText(t, p.KeyFile)
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// javaContinued is PEM as a Java properties file with line continuations
// delivers it: one line, the line breaks turned into spaces.
func javaContinued(pemText string) string { return strings.Join(strings.Fields(pemText), " ") }

const secretPassword = "s3cr3t-Pa55"

func plainJAAS(user, pass string) string {
	return fmt.Sprintf(`org.apache.kafka.common.security.plain.PlainLoginModule required username="%s" password="%s";`, user, pass)
}

func TestParseSecurity(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	cert, key := ca.issue(t, "client")
	tests := []struct {
		name  string
		props map[string]string
		want  Security
	}{
		{name: "default is plaintext", props: nil, want: Security{Protocol: ProtocolPlaintext, VerifyHostname: true}},
		{name: "ssl with system roots", props: map[string]string{"security.protocol": "SSL"},
			want: Security{Protocol: ProtocolSSL, VerifyHostname: true}},
		{name: "ssl, truststore file, no host name check", props: map[string]string{"security.protocol": "ssl",
			"ssl.truststore.type": "PEM", "ssl.truststore.location": "/etc/ca.pem", "ssl.endpoint.identification.algorithm": ""},
			want: Security{Protocol: ProtocolSSL, TrustFile: "/etc/ca.pem"}},
		{name: "ssl, inline truststore and keystore", props: map[string]string{"security.protocol": "SSL",
			"ssl.truststore.certificates": javaContinued(ca.pem), "ssl.keystore.type": "PEM",
			"ssl.keystore.key": javaContinued(key), "ssl.keystore.certificate.chain": cert, "ssl.endpoint.identification.algorithm": "HTTPS"},
			want: Security{Protocol: ProtocolSSL, TrustPEM: javaContinued(ca.pem), KeyPEM: Secret(javaContinued(key)), CertChainPEM: strings.TrimSpace(cert), VerifyHostname: true}},
		{name: "ssl, keystore file", props: map[string]string{"security.protocol": "SSL", "ssl.keystore.location": "/k.pem"},
			want: Security{Protocol: ProtocolSSL, KeystoreFile: "/k.pem", VerifyHostname: true}},
		{name: "sasl plain", props: map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
			"sasl.jaas.config": plainJAAS("alice", secretPassword)},
			want: Security{Protocol: ProtocolSASLPlaintext, Mechanism: MechanismPlain, Username: "alice", Password: secretPassword, VerifyHostname: true}},
		{name: "sasl_ssl scram-sha-512, single quotes, escapes", props: map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
			"sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username='bob' password='a \'quoted\' \\ "pass" ;=';`},
			want: Security{Protocol: ProtocolSASLSSL, Mechanism: MechanismSCRAMSHA512, Username: "bob", Password: `a 'quoted' \ "pass" ;=`, VerifyHostname: true}},
		{name: "scram-sha-256, unquoted values, extra option", props: map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-256",
			"sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule  REQUIRED\n username=carol password=pw tokenauth=false ;"},
			want: Security{Protocol: ProtocolSASLSSL, Mechanism: MechanismSCRAMSHA256, Username: "carol", Password: "pw", VerifyHostname: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tc.props)
			if err != nil {
				t.Fatalf("Parse(%v): %v", tc.props, err)
			}
			if diff := cmp.Diff(tc.want, got.Security); diff != "" {
				t.Errorf("Parse(%v).Security mismatch (-want +got):\n%s", tc.props, diff)
			}
		})
	}
}

func TestParseSecurityErrors(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	cert, key := ca.issue(t, "client")
	other, _ := ca.issue(t, "other")
	sasl := func(extra ...string) map[string]string {
		m := map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.jaas.config": plainJAAS("u", secretPassword)}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	tests := []struct {
		name  string
		props map[string]string
		want  []string // each must be in the error
	}{
		{name: "unknown protocol", props: map[string]string{"security.protocol": "TLS"}, want: []string{"security.protocol", "SASL_SSL"}},
		{name: "sasl without SASL protocol", props: map[string]string{"sasl.jaas.config": plainJAAS("u", secretPassword)},
			want: []string{"sasl.jaas.config", "security.protocol=PLAINTEXT", "SASL_PLAINTEXT"}},
		{name: "ssl property without TLS", props: map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
			"sasl.jaas.config": plainJAAS("u", secretPassword), "ssl.truststore.location": "/ca.pem"}, want: []string{"ssl.truststore.location", "does not use TLS"}},
		{name: "no mechanism", props: map[string]string{"security.protocol": "SASL_SSL", "sasl.jaas.config": plainJAAS("u", secretPassword)},
			want: []string{"sasl.mechanism", "GSSAPI"}},
		{name: "unsupported mechanism", props: sasl("sasl.mechanism", "OAUTHBEARER"), want: []string{"sasl.mechanism", "not supported"}},
		{name: "no jaas", props: map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-256"},
			want: []string{"sasl.jaas.config", "ScramLoginModule"}},
		{name: "unknown module", props: sasl("sasl.jaas.config", `com.example.MyLoginModule required username="u" password="`+secretPassword+`";`),
			want: []string{"sasl.jaas.config", "com.example.MyLoginModule", "not supported"}},
		{name: "module does not fit mechanism", props: sasl("sasl.mechanism", "SCRAM-SHA-256"), want: []string{"sasl.jaas.config", "PlainLoginModule", "SCRAM-SHA-256"}},
		{name: "no password", props: sasl("sasl.jaas.config", `org.apache.kafka.common.security.plain.PlainLoginModule required username="u";`),
			want: []string{"sasl.jaas.config", "password"}},
		{name: "no control flag", props: sasl("sasl.jaas.config", `org.apache.kafka.common.security.plain.PlainLoginModule username="u" password="`+secretPassword+`";`),
			want: []string{"sasl.jaas.config", "control flag"}},
		{name: "missing semicolon", props: sasl("sasl.jaas.config", `org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="`+secretPassword+`"`),
			want: []string{"sasl.jaas.config", "';'"}},
		{name: "unterminated quote", props: sasl("sasl.jaas.config", `org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="`+secretPassword+`;`),
			want: []string{"sasl.jaas.config", "unterminated"}},
		{name: "two modules", props: sasl("sasl.jaas.config", plainJAAS("u", secretPassword)+" "+plainJAAS("v", secretPassword)),
			want: []string{"sasl.jaas.config", "more than one"}},
		{name: "token auth", props: sasl("sasl.mechanism", "SCRAM-SHA-256", "sasl.jaas.config", `org.apache.kafka.common.security.scram.ScramLoginModule required username="u" password="`+secretPassword+`" tokenauth="true";`),
			want: []string{"sasl.jaas.config", "tokenauth"}},
		{name: "JKS truststore", props: sasl("ssl.truststore.type", "JKS", "ssl.truststore.location", "/ts.jks"), want: []string{"ssl.truststore.type", "PEM"}},
		{name: "PKCS12 keystore", props: sasl("ssl.keystore.type", "PKCS12"), want: []string{"ssl.keystore.type", "PEM"}},
		{name: "other store type", props: sasl("ssl.truststore.type", "BCFKS"), want: []string{"ssl.truststore.type", "want PEM"}},
		{name: "truststore password", props: sasl("ssl.truststore.password", secretPassword), want: []string{"ssl.truststore.password", "PEM"}},
		{name: "key password", props: sasl("ssl.key.password", secretPassword), want: []string{"ssl.key.password", "encrypted"}},
		{name: "both truststores", props: sasl("ssl.truststore.location", "/ca.pem", "ssl.truststore.certificates", ca.pem),
			want: []string{"ssl.truststore.location", "ssl.truststore.certificates"}},
		{name: "bad inline truststore", props: sasl("ssl.truststore.certificates", "not pem"), want: []string{"ssl.truststore.certificates", "PEM"}},
		{name: "key without chain", props: sasl("ssl.keystore.key", key), want: []string{"ssl.keystore.key", "ssl.keystore.certificate.chain"}},
		{name: "chain without key", props: sasl("ssl.keystore.certificate.chain", cert), want: []string{"ssl.keystore.certificate.chain", "ssl.keystore.key"}},
		{name: "file and inline keystore", props: sasl("ssl.keystore.location", "/k.pem", "ssl.keystore.key", key, "ssl.keystore.certificate.chain", cert),
			want: []string{"ssl.keystore.location", "not both"}},
		{name: "key of another certificate", props: sasl("ssl.keystore.key", key, "ssl.keystore.certificate.chain", other),
			want: []string{"ssl.keystore.key", "private key does not match"}},
		{name: "encrypted key", props: sasl("ssl.keystore.key", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n", "ssl.keystore.certificate.chain", cert),
			want: []string{"ssl.keystore.key", "encrypted"}},
		{name: "split jaas value is an unknown name, value not shown", props: map[string]string{
			`org.apache.kafka.common.security.plain.PlainLoginModule required username`: `"u" password="` + secretPassword + `";`},
			want: []string{"unknown property"}},
		{name: "bad endpoint algorithm", props: sasl("ssl.endpoint.identification.algorithm", "dns"), want: []string{"ssl.endpoint.identification.algorithm", "https"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tc.props)
			if err == nil {
				t.Fatalf("Parse(%v) = nil error, want one with %q", tc.props, tc.want)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("Parse error = %q, want it to contain %q", msg, w)
				}
			}
			if strings.Contains(msg, secretPassword) || strings.Contains(msg, "PRIVATE KEY-----\nMIG") {
				t.Errorf("Parse error = %q shows a secret", msg)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("Parse error = %q, want one line", msg)
			}
		})
	}
}

func TestSecretsDoNotPrint(t *testing.T) {
	t.Parallel()
	p, err := Parse(map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.jaas.config": plainJAAS("u", secretPassword)})
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		if s := fmt.Sprintf(verb, p); strings.Contains(s, secretPassword) {
			t.Errorf("Sprintf(%q, settings) = %s, shows the password", verb, s)
		}
	}
	if string(p.Security.Password) != secretPassword {
		t.Errorf("Password = %q, want the parsed one", string(p.Security.Password))
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	in := map[string]string{"acks": "all", "sasl.jaas.config": plainJAAS("u", secretPassword), "ssl.keystore.key": "KEY",
		"ssl.key.password": "x", "ssl.truststore.location": "/ca.pem"}
	want := map[string]string{"acks": "all", "sasl.jaas.config": "[redacted]", "ssl.keystore.key": "[redacted]",
		"ssl.key.password": "[redacted]", "ssl.truststore.location": "/ca.pem"}
	if diff := cmp.Diff(want, Redact(in)); diff != "" {
		t.Errorf("Redact mismatch (-want +got):\n%s", diff)
	}
	if in["sasl.jaas.config"] == "[redacted]" {
		t.Error("Redact changed its input")
	}
	if Redact(nil) != nil {
		t.Error("Redact(nil) != nil")
	}
}

// handshake runs a TLS handshake between cfg and a server presenting
// cert/key, requiring a client certificate from clientCA when set.
func handshake(t *testing.T, cfg *tls.Config, serverName, cert, key string, clientCA *testCA) error {
	t.Helper()
	pair, err := tls.X509KeyPair([]byte(cert), []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	scfg := &tls.Config{Certificates: []tls.Certificate{pair}}
	if clientCA != nil {
		scfg.ClientAuth = tls.RequireAndVerifyClientCert
		scfg.ClientCAs = x509.NewCertPool()
		if !scfg.ClientCAs.AppendCertsFromPEM([]byte(clientCA.pem)) {
			t.Fatal("client CA: no certificate in its PEM")
		}
	}
	// Over loopback TCP, not net.Pipe: a failing side's alert must not
	// block on an unbuffered write.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c1, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	deadline := time.Now().Add(10 * time.Second)
	srv := tls.Server(c2, scfg)
	srv.SetDeadline(deadline)
	done := make(chan error, 1)
	go func() {
		err := srv.Handshake()
		if err == nil {
			_, err = srv.Write([]byte("ok"))
		}
		done <- err
	}()
	cfg = cfg.Clone()
	cfg.ServerName = serverName
	cl := tls.Client(c1, cfg)
	cl.SetDeadline(deadline)
	err = cl.Handshake()
	if err == nil {
		// With TLS 1.3 the server checks the client's certificate after
		// the client's handshake is done; its verdict comes with the first
		// read.
		_, err = io.ReadFull(cl, make([]byte, 2))
	}
	c1.Close()
	<-done
	return err
}

func TestTLSConfig(t *testing.T) {
	t.Parallel()
	ca, wrongCA := newTestCA(t, "ca"), newTestCA(t, "wrong")
	srvCert, srvKey := ca.issue(t, "broker", "broker.test")
	cliCert, cliKey := ca.issue(t, "client")
	trust := writeFile(t, "ca.pem", ca.pem)
	wrongTrust := writeFile(t, "wrong.pem", wrongCA.pem)
	keystore := writeFile(t, "client.pem", cliKey+cliCert)
	tests := []struct {
		name       string
		props      map[string]string
		serverName string
		clientCA   *testCA
		wantErr    string // "" for a good handshake
	}{
		{name: "trusted, name matches", props: map[string]string{"ssl.truststore.location": trust}, serverName: "broker.test"},
		{name: "inline truststore", props: map[string]string{"ssl.truststore.certificates": javaContinued(ca.pem)}, serverName: "broker.test"},
		{name: "inline truststore, line breaks removed", props: map[string]string{"ssl.truststore.certificates": strings.ReplaceAll(ca.pem, "\n", "")},
			serverName: "broker.test"},
		{name: "name differs", props: map[string]string{"ssl.truststore.location": trust}, serverName: "127.0.0.1", wantErr: "certificate"},
		{name: "name differs, check off", props: map[string]string{"ssl.truststore.location": trust, "ssl.endpoint.identification.algorithm": ""}, serverName: "127.0.0.1"},
		{name: "wrong CA", props: map[string]string{"ssl.truststore.location": wrongTrust}, serverName: "broker.test", wantErr: "certificate"},
		{name: "wrong CA, check off", props: map[string]string{"ssl.truststore.location": wrongTrust, "ssl.endpoint.identification.algorithm": ""},
			serverName: "broker.test", wantErr: "certificate"},
		{name: "client certificate file", props: map[string]string{"ssl.truststore.location": trust, "ssl.keystore.type": "PEM", "ssl.keystore.location": keystore},
			serverName: "broker.test", clientCA: ca},
		{name: "client certificate inline", props: map[string]string{"ssl.truststore.location": trust, "ssl.keystore.key": cliKey, "ssl.keystore.certificate.chain": cliCert},
			serverName: "broker.test", clientCA: ca},
		{name: "client certificate missing", props: map[string]string{"ssl.truststore.location": trust}, serverName: "broker.test", clientCA: ca, wantErr: "certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := map[string]string{"security.protocol": "SSL"}
			for k, v := range tc.props {
				m[k] = v
			}
			p, err := Parse(m)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			cfg, err := p.Security.TLSConfig()
			if err != nil {
				t.Fatalf("TLSConfig: %v", err)
			}
			err = handshake(t, cfg, tc.serverName, srvCert, srvKey, tc.clientCA)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("handshake: %v, want success", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("handshake error = %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestTLSConfigErrors(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	jks := writeFile(t, "ts.jks", "\xfe\xed\xfe\xed\x00\x00\x00\x02binary")
	certOnly, _ := ca.issue(t, "client")
	tests := []struct {
		name  string
		props map[string]string
		want  []string
	}{
		{name: "missing truststore file", props: map[string]string{"ssl.truststore.location": "/nonexistent/ca.pem"},
			want: []string{"ssl.truststore.location", "no such file"}},
		{name: "JKS file given as PEM", props: map[string]string{"ssl.truststore.location": jks}, want: []string{"ssl.truststore.location", "PEM"}},
		{name: "keystore without key", props: map[string]string{"ssl.keystore.location": writeFile(t, "c.pem", certOnly)},
			want: []string{"ssl.keystore.location", "PRIVATE KEY"}},
		{name: "missing keystore file", props: map[string]string{"ssl.keystore.location": "/nonexistent/k.pem"}, want: []string{"ssl.keystore.location"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.jaas.config": plainJAAS("u", secretPassword)}
			for k, v := range tc.props {
				m[k] = v
			}
			p, err := Parse(m)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			_, err = p.Security.TLSConfig()
			if err == nil {
				t.Fatalf("TLSConfig() = nil error, want one with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("TLSConfig error = %q, want it to contain %q", err, w)
				}
			}
		})
	}
	if cfg, err := Defaults().Security.TLSConfig(); cfg != nil || err != nil {
		t.Errorf("PLAINTEXT TLSConfig() = %v, %v; want nil, nil", cfg, err)
	}
}
