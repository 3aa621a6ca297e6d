package props

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// TLSConfig returns the TLS client config for the settings, reading the
// PEM files they name; nil when the protocol does not use TLS. Errors name
// the property.
func (s Security) TLSConfig() (*tls.Config, error) {
	if !s.TLS() {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case s.TrustFile != "":
		b, err := os.ReadFile(s.TrustFile)
		if err != nil {
			return nil, fmt.Errorf("producer property ssl.truststore.location: %w", err)
		}
		if cfg.RootCAs, err = certPool(string(b)); err != nil {
			return nil, fmt.Errorf("producer property ssl.truststore.location %s: %w", s.TrustFile, err)
		}
	case s.TrustPEM != "":
		var err error
		if cfg.RootCAs, err = certPool(s.TrustPEM); err != nil {
			return nil, fmt.Errorf("producer property ssl.truststore.certificates: %w", err)
		}
	}
	switch {
	case s.KeystoreFile != "":
		b, err := os.ReadFile(s.KeystoreFile)
		if err != nil {
			return nil, fmt.Errorf("producer property ssl.keystore.location: %w", err)
		}
		pair, err := keyPair(string(b), string(b))
		if err != nil {
			return nil, fmt.Errorf("producer property ssl.keystore.location %s: %w", s.KeystoreFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	case s.KeyPEM != "":
		pair, err := keyPair(s.CertChainPEM, string(s.KeyPEM))
		if err != nil {
			return nil, fmt.Errorf("producer properties ssl.keystore.key and ssl.keystore.certificate.chain: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if !s.VerifyHostname {
		// Verify the chain as usual but not the name: Go checks both or
		// neither, so the chain is checked here.
		roots := cfg.RootCAs
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tls: broker sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
				return fmt.Errorf("tls: failed to verify certificate: %w", err)
			}
			return nil
		}
	}
	return cfg, nil
}

// pemBlock matches one PEM block, also when a Java properties file's line
// continuations have turned its line breaks into spaces.
var pemBlock = regexp.MustCompile(`-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\s]*?)-----END ([A-Z0-9 ]+)-----`)

// decodePEM returns the PEM blocks in s, reading the base64 bodies whatever
// their line breaks (headers, as in legacy encrypted keys, are not read).
func decodePEM(s string) ([]*pem.Block, error) {
	var out []*pem.Block
	for _, m := range pemBlock.FindAllStringSubmatch(s, -1) {
		if m[1] != m[3] {
			return nil, fmt.Errorf("PEM block BEGIN %s ends with END %s", m[1], m[3])
		}
		der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(m[2]), ""))
		if err != nil {
			return nil, fmt.Errorf("PEM block %s: bad base64", m[1])
		}
		out = append(out, &pem.Block{Type: m[1], Bytes: der})
	}
	if len(out) == 0 {
		if strings.Contains(s, "-----BEGIN") {
			return nil, errors.New("unreadable PEM (encrypted or with headers?)")
		}
		return nil, errors.New("no PEM blocks (JKS and PKCS12 stores cannot be read: convert them to PEM)")
	}
	return out, nil
}

// certPool returns a pool of the certificates in PEM text s.
func certPool(s string) (*x509.CertPool, error) {
	blocks, err := decodePEM(s)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	for _, b := range blocks {
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, errors.New("no CERTIFICATE blocks")
	}
	return pool, nil
}

// keyPair reads a private key and its certificate chain from PEM text.
func keyPair(certs, key string) (tls.Certificate, error) {
	cb, err := decodePEM(certs)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate chain: %w", err)
	}
	kb, err := decodePEM(key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("private key: %w", err)
	}
	var certPEM, keyPEM []byte
	for _, b := range cb {
		if b.Type == "CERTIFICATE" {
			certPEM = append(certPEM, pem.EncodeToMemory(b)...)
		}
	}
	for _, b := range kb {
		switch {
		case b.Type == "ENCRYPTED PRIVATE KEY":
			return tls.Certificate{}, errors.New("the private key is encrypted, which kperf does not support: give an unencrypted key (openssl pkcs8 -topk8 -nocrypt)")
		case strings.HasSuffix(b.Type, "PRIVATE KEY") && keyPEM == nil:
			keyPEM = pem.EncodeToMemory(b)
		}
	}
	switch {
	case certPEM == nil:
		return tls.Certificate{}, errors.New("no CERTIFICATE block")
	case keyPEM == nil:
		return tls.Certificate{}, errors.New("no PRIVATE KEY block")
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, err
	}
	return pair, nil
}
