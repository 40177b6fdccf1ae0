package intern

import (
	"encoding/hex"

	"k8s.io/apimachinery/pkg/types"
)

// UID is an object's UID in 16 bytes when it is a UUID in its canonical
// lower-case text, as the API server assigns them: as a string it costs
// 64 bytes (a header and 48 bytes of text), and a cache holds one per
// object. Any other UID is kept as it is.
type UID struct {
	uuid [16]byte
	text string // set only for a UID that is not a canonical UUID
}

// UIDOf returns u's compact form; UIDOf(u).Value() == u for every u.
func UIDOf(u types.UID) UID {
	var out UID
	if u == "" {
		return out
	}
	s := string(u)
	if len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' {
		hexDigits := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
		// The all-zero UUID stays text: zero bytes and no text mean "".
		if _, err := hex.Decode(out.uuid[:], []byte(hexDigits)); err == nil && hex.EncodeToString(out.uuid[:]) == hexDigits &&
			out.uuid != [16]byte{} {
			return out
		}
	}
	return UID{text: s}
}

// Value returns the UID as the API has it.
func (u UID) Value() types.UID {
	if u.text != "" || u.uuid == [16]byte{} {
		return types.UID(u.text)
	}
	h := hex.EncodeToString(u.uuid[:])
	return types.UID(h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32])
}
