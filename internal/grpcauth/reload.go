package grpcauth

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"sync"
	"time"
)

// reloading holds what was loaded from files and loads it again when one
// of them changes (a rotated Kubernetes Secret, a renewed certificate), so
// a long-running agent keeps serving across rotations. A reload that fails
// keeps the last good value.
type reloading[T any] struct {
	files []string
	load  func() (T, error)

	mu   sync.Mutex
	val  T
	mods []time.Time
}

// newReloading loads once; an error here is the caller's to report.
func newReloading[T any](load func() (T, error), files ...string) (*reloading[T], error) {
	r := &reloading[T]{files: files, load: load}
	v, err := load()
	if err != nil {
		return nil, err
	}
	r.val, r.mods = v, r.modTimes()
	return r, nil
}

func (r *reloading[T]) modTimes() []time.Time {
	out := make([]time.Time, len(r.files))
	for i, f := range r.files {
		if st, err := os.Stat(f); err == nil {
			out[i] = st.ModTime()
		}
	}
	return out
}

// get returns the value, reloading it first if a file changed since.
func (r *reloading[T]) get() T {
	r.mu.Lock()
	defer r.mu.Unlock()
	mods := r.modTimes()
	changed := false
	for i := range mods {
		changed = changed || !mods[i].Equal(r.mods[i])
	}
	if changed {
		if v, err := r.load(); err == nil {
			r.val, r.mods = v, mods
		}
	}
	return r.val
}

// reloadingServerTLS is a server TLS configuration whose certificate and
// client CAs follow their files.
func reloadingServerTLS(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	pair, err := newReloading(func() (*tls.Certificate, error) {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		return &c, err
	}, certFile, keyFile)
	if err != nil {
		return nil, err
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12}
	if clientCAFile == "" {
		base.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return pair.get(), nil }
		return base, nil
	}
	cas, err := newReloading(func() (*x509.CertPool, error) { return loadPool(clientCAFile) }, clientCAFile)
	if err != nil {
		return nil, &caError{err}
	}
	base.ClientAuth = tls.RequireAndVerifyClientCert
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.GetConfigForClient = nil
		c.Certificates = []tls.Certificate{*pair.get()}
		c.ClientCAs = cas.get()
		return c, nil
	}
	return base, nil
}

// caError marks a failure to read the client CA file.
type caError struct{ err error }

func (e *caError) Error() string { return e.err.Error() }
func (e *caError) Unwrap() error { return e.err }
