package check

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// TODO(lead): replace tokenClaims and readTokenClaims with the shared JWT
// helper that the cli branch adds in remote/ (token renewal needs the same
// decoding); this private copy only exists so that `check` does not wait
// for that branch.

// tokenClaims are the claims of a bearer token that the checks read.
type tokenClaims struct {
	// Expiry is the exp claim; zero when the token has none (a long-lived
	// ServiceAccount token Secret's).
	Expiry time.Time
	// IssuedAt is the iat claim (nbf when iat is missing); zero when
	// neither is there.
	IssuedAt time.Time
	// Subject is the sub claim, "system:serviceaccount:<ns>:<name>" for a
	// ServiceAccount token.
	Subject string
}

// errNotJWT means the token is opaque (a static token, say): it has no
// claims to read.
var errNotJWT = errors.New("not a JWT")

// readTokenClaims decodes a JWT's payload without verifying its signature:
// `check` only reports what the token says about itself, and the remote API
// server is the one that verifies it.
func readTokenClaims(token string) (tokenClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return tokenClaims{}, errNotJWT
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return tokenClaims{}, errNotJWT
	}
	var raw struct {
		Exp json.RawMessage `json:"exp"`
		Iat json.RawMessage `json:"iat"`
		Nbf json.RawMessage `json:"nbf"`
		Sub string          `json:"sub"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return tokenClaims{}, errNotJWT
	}
	c := tokenClaims{Subject: raw.Sub}
	if c.Expiry, err = numericDate(raw.Exp); err != nil {
		return tokenClaims{}, errors.New("its exp claim is not a number")
	}
	if c.IssuedAt, err = numericDate(raw.Iat); err != nil {
		return tokenClaims{}, errors.New("its iat claim is not a number")
	}
	if c.IssuedAt.IsZero() {
		if c.IssuedAt, err = numericDate(raw.Nbf); err != nil {
			return tokenClaims{}, errors.New("its nbf claim is not a number")
		}
	}
	return c, nil
}

// numericDate reads a JWT NumericDate (seconds since the epoch, possibly
// fractional); an absent claim is the zero time.
func numericDate(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, int64(f*float64(time.Second))), nil
}

// serviceAccount returns the namespace and name of a ServiceAccount token's
// subject; ok is false for any other subject.
func (c tokenClaims) serviceAccount() (namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(c.Subject, "system:serviceaccount:")
	if !found {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	return namespace, name, ok && namespace != "" && name != ""
}
