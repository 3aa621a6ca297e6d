// Package grpcauth secures the controller-agent gRPC connection: TLS or
// mutual TLS from PEM files, and an optional bearer token.
package grpcauth

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// healthPrefix is the method prefix of grpc.health.v1, which answers
// without a token: it reveals nothing and probes cannot send one.
const healthPrefix = "/grpc.health.v1.Health/"

// Server is an agent's side: its certificate, the CA its clients'
// certificates must chain to (mutual TLS when set), and the token file.
type Server struct {
	CertFile, KeyFile string
	ClientCAFile      string
	TokenFile         string
}

// TLS reports whether the server serves TLS.
func (s Server) TLS() bool { return s.CertFile != "" || s.KeyFile != "" }

// Secured reports whether the server has TLS or a token.
func (s Server) Secured() bool { return s.TLS() || s.TokenFile != "" }

// Options returns the gRPC server options: transport credentials and the
// token check. Errors name the flag whose file is wrong.
func (s Server) Options() ([]grpc.ServerOption, error) {
	var opts []grpc.ServerOption
	if s.ClientCAFile != "" && !s.TLS() {
		return nil, errors.New("--tls-ca needs --tls-cert and --tls-key: client certificates are checked only over TLS")
	}
	if s.TLS() {
		if s.CertFile == "" || s.KeyFile == "" {
			return nil, errors.New("--tls-cert and --tls-key go together")
		}
		// The files are watched: a rotated certificate or CA is used from
		// the next connection on.
		cfg, err := reloadingServerTLS(s.CertFile, s.KeyFile, s.ClientCAFile)
		var ce *caError
		switch {
		case errors.As(err, &ce):
			return nil, fmt.Errorf("--tls-ca: %w", err)
		case err != nil:
			return nil, fmt.Errorf("--tls-cert %s / --tls-key %s: %w", s.CertFile, s.KeyFile, err)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg)))
	}
	if s.TokenFile != "" {
		token, err := ReadToken(s.TokenFile)
		if err != nil {
			return nil, err
		}
		c := checker{want: []byte(token)}
		opts = append(opts, grpc.ChainUnaryInterceptor(c.unary), grpc.ChainStreamInterceptor(c.stream))
	}
	return opts, nil
}

// ReadToken reads a bearer token file; surrounding white space is ignored.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	switch {
	case t == "":
		return "", fmt.Errorf("--token-file %s is empty", path)
	case strings.ContainsAny(t, " \t\r\n"):
		return "", fmt.Errorf("--token-file %s: the token must be one word", path)
	}
	return t, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// checker rejects calls without the right bearer token.
type checker struct{ want []byte }

func (c checker) check(ctx context.Context, method string) error {
	if strings.HasPrefix(method, healthPrefix) {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return status.Error(codes.Unauthenticated, "no bearer token: this agent requires one (kperf-controller --token-file)")
	}
	got, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), c.want) != 1 {
		return status.Error(codes.Unauthenticated, "wrong bearer token")
	}
	return nil
}

func (c checker) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := c.check(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (c checker) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := c.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return h(srv, ss)
}

// Client is a controller's side: the CA that agents' certificates must
// chain to, its own certificate for mutual TLS, the name to check in
// agents' certificates, and the token.
type Client struct {
	CAFile            string
	CertFile, KeyFile string
	ServerName        string
	TokenFile         string
	// Insecure allows sending the token without TLS.
	Insecure bool
}

// TLS reports whether the client dials with TLS.
func (c Client) TLS() bool { return c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" }

// DialOptions returns the gRPC dial options: plaintext unless TLS is
// configured, and the token on every call.
func (c Client) DialOptions() ([]grpc.DialOption, error) {
	var opts []grpc.DialOption
	if !c.TLS() {
		if c.ServerName != "" {
			return nil, errors.New("--tls-server-name needs --tls-ca (or --tls-cert and --tls-key)")
		}
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
		if c.CAFile != "" {
			pool, err := loadPool(c.CAFile)
			if err != nil {
				return nil, fmt.Errorf("--tls-ca: %w", err)
			}
			cfg.RootCAs = pool
		}
		var cert *tls.Certificate
		if c.CertFile != "" || c.KeyFile != "" {
			if c.CertFile == "" || c.KeyFile == "" {
				return nil, errors.New("--tls-cert and --tls-key go together")
			}
			kp, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("--tls-cert %s / --tls-key %s: %w", c.CertFile, c.KeyFile, err)
			}
			cert = &kp
		}
		// Under TLS 1.3 a server's refusal of the client's certificate
		// reaches the client only as a broken connection; decide here, when
		// the server asks, so the error says why.
		cfg.GetClientCertificate = func(req *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if cert == nil {
				return nil, errors.New("the agent requires a client certificate (mutual TLS): give --tls-cert and --tls-key")
			}
			if len(req.AcceptableCAs) > 0 && req.SupportsCertificate(cert) != nil {
				return nil, fmt.Errorf("the agent accepts client certificates from %s, and --tls-cert %s is not issued by one", caNames(req.AcceptableCAs), c.CertFile)
			}
			return cert, nil
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	}
	if c.TokenFile != "" {
		if !c.TLS() && !c.Insecure {
			return nil, errors.New("--token-file without TLS would send the token in the clear: add --tls-ca, or --insecure on a throwaway network")
		}
		token, err := ReadToken(c.TokenFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: token, secure: c.TLS()}))
	}
	return opts, nil
}

// caNames lists the subjects of DER-encoded distinguished names.
func caNames(raw [][]byte) string {
	names := make([]string, 0, len(raw))
	for _, r := range raw {
		var seq pkix.RDNSequence
		if _, err := asn1.Unmarshal(r, &seq); err != nil {
			continue
		}
		var n pkix.Name
		n.FillFromRDNSequence(&seq)
		names = append(names, n.String())
	}
	return "[" + strings.Join(names, "; ") + "]"
}

// bearer sends the token on every call.
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }

// Loopback reports whether addr (host:port, as given to a listener) is
// reachable only from this host: a loopback IP or "localhost". An empty
// host listens on every interface and is not loopback.
func Loopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback(), nil
}
