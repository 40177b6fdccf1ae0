package plan

// Reasons a remote Service is not mirrored, as in the Link status's
// Mirrored condition (compat.md) plus Conflict, ours.
const (
	ReasonMirrored         = "Mirrored"
	ReasonMissingNamespace = "MissingNamespace"
	ReasonConflict         = "Conflict"
	// ReasonInvalidService: the remote Service cannot be mirrored as it is
	// (retrying will not help until it changes).
	ReasonInvalidService = "InvalidService"
	ReasonError          = "Error"
)
