package props

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Security protocols, as Java's security.protocol.
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"
)

// SASL mechanisms, as Java's sasl.mechanism.
const (
	MechanismPlain       = "PLAIN"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
)

// JAAS login modules sasl.jaas.config may name.
const (
	plainModule = "org.apache.kafka.common.security.plain.PlainLoginModule"
	scramModule = "org.apache.kafka.common.security.scram.ScramLoginModule"
)

var (
	protocols  = []string{ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL}
	mechanisms = []string{MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512}
)

// Secret is a string that never prints: fmt shows it as [redacted], so
// settings holding one can be logged. Convert it with string() to use it.
type Secret string

// String returns "[redacted]".
func (Secret) String() string { return redacted }

// GoString returns "[redacted]", quoted.
func (Secret) GoString() string { return `"` + redacted + `"` }

const redacted = "[redacted]"

// Security is how a client connects to Kafka: security.protocol, SASL
// credentials and TLS material. Certificates and keys are PEM; the files
// named are read by TLSConfig, on the machine that connects.
type Security struct {
	// Protocol is security.protocol: PLAINTEXT (default), SSL,
	// SASL_PLAINTEXT or SASL_SSL.
	Protocol string
	// Mechanism is sasl.mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512;
	// empty unless Protocol uses SASL.
	Mechanism string
	// Username and Password come from sasl.jaas.config.
	Username string
	Password Secret
	// TrustFile is ssl.truststore.location, a PEM file of CA certificates;
	// TrustPEM is ssl.truststore.certificates, the same inline. With
	// neither, the system's roots are trusted.
	TrustFile string
	TrustPEM  string
	// KeystoreFile is ssl.keystore.location, a PEM file holding the client
	// key and its certificate chain (for TLS client authentication).
	// KeyPEM and CertChainPEM are ssl.keystore.key and
	// ssl.keystore.certificate.chain, the same inline.
	KeystoreFile string
	KeyPEM       Secret
	CertChainPEM string
	// VerifyHostname is ssl.endpoint.identification.algorithm=https (the
	// default): the broker's certificate must name the host dialled. An
	// empty value turns the check off; the chain is still verified.
	VerifyHostname bool
}

// TLS reports whether the protocol uses TLS.
func (s Security) TLS() bool { return s.Protocol == ProtocolSSL || s.Protocol == ProtocolSASLSSL }

// SASL reports whether the protocol uses SASL.
func (s Security) SASL() bool {
	return s.Protocol == ProtocolSASLPlaintext || s.Protocol == ProtocolSASLSSL
}

// securityKeys lists the security property names Parse accepts.
var securityKeys = []string{"sasl.jaas.config", "sasl.mechanism", "security.protocol",
	"ssl.endpoint.identification.algorithm", "ssl.key.password",
	"ssl.keystore.certificate.chain", "ssl.keystore.key", "ssl.keystore.location", "ssl.keystore.password", "ssl.keystore.type",
	"ssl.truststore.certificates", "ssl.truststore.location", "ssl.truststore.password", "ssl.truststore.type"}

func isSecurityKey(k string) bool { return slices.Contains(securityKeys, k) }

// IsSecret reports whether a property's value is a secret that must not be
// printed, logged or stored with results: sasl.jaas.config, ssl.keystore.key
// and any *password* property.
func IsSecret(name string) bool {
	return name == "sasl.jaas.config" || name == "ssl.keystore.key" || strings.Contains(name, "password")
}

// Redact returns a copy of m with the values of secret properties (see
// IsSecret) replaced by [redacted]; nil for nil.
func Redact(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if IsSecret(k) {
			v = redacted
		}
		out[k] = v
	}
	return out
}

// propError is an error about one property, printed as "producer property
// k=v: err" with secret values redacted.
func propError(k, v string, err error) error {
	if IsSecret(k) {
		return fmt.Errorf("producer property %s=%s: %w", k, redacted, err)
	}
	return fmt.Errorf("producer property %s=%q: %w", k, v, err)
}

// parseSecurity reads the security properties in m (only those) into a
// Security, checking that they fit together.
func parseSecurity(m map[string]string) (Security, error) {
	s := Security{Protocol: ProtocolPlaintext, VerifyHostname: true}
	get := func(k string) (string, bool) {
		v, ok := m[k]
		return strings.TrimSpace(v), ok
	}
	if v, ok := get("security.protocol"); ok {
		s.Protocol = strings.ToUpper(v)
		if !slices.Contains(protocols, s.Protocol) {
			return Security{}, propError("security.protocol", v, fmt.Errorf("want one of %s", strings.Join(protocols, ", ")))
		}
	}
	// Properties the protocol would not use are mistakes (a forgotten
	// security.protocol would otherwise send load over plaintext).
	for _, k := range securityKeys {
		if _, ok := m[k]; !ok {
			continue
		}
		if strings.HasPrefix(k, "sasl.") && !s.SASL() {
			return Security{}, fmt.Errorf("producer property %s is set but security.protocol=%s does not use SASL (use SASL_PLAINTEXT or SASL_SSL)", k, s.Protocol)
		}
		if strings.HasPrefix(k, "ssl.") && !s.TLS() {
			return Security{}, fmt.Errorf("producer property %s is set but security.protocol=%s does not use TLS (use SSL or SASL_SSL)", k, s.Protocol)
		}
	}
	if s.SASL() {
		if err := s.parseSASL(get); err != nil {
			return Security{}, err
		}
	}
	if s.TLS() {
		if err := s.parseTLS(get); err != nil {
			return Security{}, err
		}
	}
	return s, nil
}

func (s *Security) parseSASL(get func(string) (string, bool)) error {
	mech, ok := get("sasl.mechanism")
	if !ok {
		return fmt.Errorf("producer property security.protocol=%s needs sasl.mechanism (%s; Java's default GSSAPI is not supported)",
			s.Protocol, strings.Join(mechanisms, ", "))
	}
	s.Mechanism = strings.ToUpper(mech)
	if !slices.Contains(mechanisms, s.Mechanism) {
		return propError("sasl.mechanism", mech, fmt.Errorf("not supported, want one of %s", strings.Join(mechanisms, ", ")))
	}
	jaas, ok := get("sasl.jaas.config")
	if !ok {
		return fmt.Errorf("producer property security.protocol=%s needs sasl.jaas.config (%s required username=\"...\" password=\"...\";)",
			s.Protocol, moduleFor(s.Mechanism))
	}
	module, opts, err := parseJAAS(jaas)
	if err != nil {
		return propError("sasl.jaas.config", jaas, err)
	}
	if want := moduleFor(s.Mechanism); module != want {
		switch module {
		case plainModule, scramModule:
			return propError("sasl.jaas.config", jaas, fmt.Errorf("login module %s does not fit sasl.mechanism=%s (want %s)", module, s.Mechanism, want))
		}
		return propError("sasl.jaas.config", jaas, fmt.Errorf("login module %s not supported (want %s or %s)", module, plainModule, scramModule))
	}
	for _, name := range []string{"username", "password"} {
		if opts[name] == "" {
			return propError("sasl.jaas.config", jaas, fmt.Errorf("no %s option", name))
		}
	}
	if v, ok := opts["tokenauth"]; ok && !strings.EqualFold(v, "false") {
		return propError("sasl.jaas.config", jaas, errors.New("delegation tokens (tokenauth) are not supported"))
	}
	s.Username, s.Password = opts["username"], Secret(opts["password"])
	return nil
}

func moduleFor(mechanism string) string {
	if mechanism == MechanismPlain {
		return plainModule
	}
	return scramModule
}

func (s *Security) parseTLS(get func(string) (string, bool)) error {
	for _, k := range []string{"ssl.truststore.type", "ssl.keystore.type"} {
		v, ok := get(k)
		if !ok || strings.EqualFold(v, "PEM") {
			continue
		}
		if strings.EqualFold(v, "JKS") || strings.EqualFold(v, "PKCS12") {
			return propError(k, v, errors.New("kperf (Go) cannot read JKS or PKCS12 stores: convert them to PEM files and set "+k+"=PEM"))
		}
		return propError(k, v, errors.New("want PEM"))
	}
	for _, k := range []string{"ssl.truststore.password", "ssl.keystore.password"} {
		if _, ok := get(k); ok {
			return fmt.Errorf("producer property %s: kperf reads PEM stores, which take no password; convert a JKS or PKCS12 store to PEM, set its type to PEM and remove %s", k, k)
		}
	}
	if _, ok := get("ssl.key.password"); ok {
		return errors.New("producer property ssl.key.password: encrypted private keys are not supported; give an unencrypted PEM key and remove ssl.key.password")
	}
	s.TrustFile, _ = get("ssl.truststore.location")
	s.TrustPEM, _ = get("ssl.truststore.certificates")
	if s.TrustFile != "" && s.TrustPEM != "" {
		return errors.New("producer properties ssl.truststore.location and ssl.truststore.certificates: give one, not both")
	}
	if s.TrustPEM != "" {
		if _, err := certPool(s.TrustPEM); err != nil {
			return propError("ssl.truststore.certificates", s.TrustPEM, err)
		}
	}
	s.KeystoreFile, _ = get("ssl.keystore.location")
	key, _ := get("ssl.keystore.key")
	s.KeyPEM = Secret(key)
	s.CertChainPEM, _ = get("ssl.keystore.certificate.chain")
	switch {
	case s.KeystoreFile != "" && (key != "" || s.CertChainPEM != ""):
		return errors.New("producer properties ssl.keystore.location and ssl.keystore.key/ssl.keystore.certificate.chain: give the file or the inline PEM, not both")
	case key != "" && s.CertChainPEM == "":
		return errors.New("producer property ssl.keystore.key needs ssl.keystore.certificate.chain (the client certificate, PEM)")
	case key == "" && s.CertChainPEM != "":
		return errors.New("producer property ssl.keystore.certificate.chain needs ssl.keystore.key (the client's private key, PEM)")
	case key != "":
		if _, err := keyPair(s.CertChainPEM, key); err != nil {
			return fmt.Errorf("producer properties ssl.keystore.key and ssl.keystore.certificate.chain: %w", err)
		}
	}
	if v, ok := get("ssl.endpoint.identification.algorithm"); ok {
		switch {
		case v == "":
			s.VerifyHostname = false
		case strings.EqualFold(v, "https"):
		default:
			return propError("ssl.endpoint.identification.algorithm", v, errors.New(`want https (check the broker's host name, the default) or "" (do not)`))
		}
	}
	return nil
}

// parseJAAS reads a sasl.jaas.config value: one login module entry,
//
//	<module class> <required|requisite|sufficient|optional> [key=value ...];
//
// where values may be quoted with " or ' (backslash escapes the next
// character inside quotes), as Java's JAAS parser reads them.
func parseJAAS(s string) (module string, opts map[string]string, err error) {
	toks, err := jaasTokens(s)
	if err != nil {
		return "", nil, err
	}
	if len(toks) == 0 || toks[0].quoted || toks[0].text == ";" || toks[0].text == "=" {
		return "", nil, errors.New("want: <login module class> required key=\"value\" ...;")
	}
	module = toks[0].text
	if len(toks) < 2 || toks[1].quoted || !slices.Contains([]string{"required", "requisite", "sufficient", "optional"}, strings.ToLower(toks[1].text)) {
		return "", nil, fmt.Errorf("login module %s: want a control flag (required) after the class name", module)
	}
	opts = map[string]string{}
	i := 2
	for ; i < len(toks) && !(toks[i].text == ";" && !toks[i].quoted); i += 3 {
		if i+2 >= len(toks) || toks[i].quoted || toks[i+1].text != "=" || toks[i+1].quoted ||
			(toks[i+2].text == ";" || toks[i+2].text == "=") && !toks[i+2].quoted {
			return "", nil, fmt.Errorf("login module %s: options must be key=value (key=\"value\" when it has spaces)", module)
		}
		opts[toks[i].text] = toks[i+2].text
	}
	if i >= len(toks) {
		return "", nil, errors.New("missing ';' after the login module's options")
	}
	if i != len(toks)-1 {
		return "", nil, errors.New("more than one login module; kperf takes one")
	}
	return module, opts, nil
}

type jaasToken struct {
	text   string
	quoted bool
}

// jaasTokens splits a JAAS entry into words, quoted strings, '=' and ';'.
func jaasTokens(s string) ([]jaasToken, error) {
	var toks []jaasToken
	r := []rune(s)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '=' || c == ';':
			toks = append(toks, jaasToken{text: string(c)})
			i++
		case c == '"' || c == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(r) && r[j] != c; j++ {
				if r[j] == '\\' && j+1 < len(r) {
					j++
				}
				b.WriteRune(r[j])
			}
			if j >= len(r) {
				return nil, errors.New("unterminated quoted value")
			}
			toks = append(toks, jaasToken{text: b.String(), quoted: true})
			i = j + 1
		default:
			j := i
			for j < len(r) && !unicode.IsSpace(r[j]) && !strings.ContainsRune(`=;"'`, r[j]) {
				j++
			}
			toks = append(toks, jaasToken{text: string(r[i:j])})
			i = j
		}
	}
	return toks, nil
}
