package testbed

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
)

// ServiceAccountIssuer is the iss claim of the cluster's ServiceAccount
// tokens (kube-apiserver's --service-account-issuer) and, as no
// --api-audiences is set, their audience.
const ServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// SignServiceAccountToken signs claims with the cluster's own
// ServiceAccount signing key (ES256), so the API server verifies the result
// as one of its tokens. Tests use it for tokens the TokenRequest API will
// not issue, such as one that expired an hour ago: the API server's
// shortest expiry is ten minutes, too long to wait for in a test.
func (c *Cluster) SignServiceAccountToken(claims map[string]any) (string, error) {
	data, err := os.ReadFile(c.pki.saKeyPath)
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return "", errors.New("no PEM block in the ServiceAccount signing key")
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(`{"alg":"ES256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return "", err
	}
	// JWS ES256 signatures are r and s as two 32-byte big-endian numbers.
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + enc.EncodeToString(sig), nil
}
