package plan

import "slices"

// Gateway is the current gateway address set and per-address liveness. Order
// does not matter: DesiredFor sorts and de-duplicates it.
type Gateway struct {
	Addresses []GatewayAddress
}

// GatewayAddress is one resolved gateway IP and whether the probe says the
// gateway behind it is up.
type GatewayAddress struct {
	IP    string
	Alive bool
}

// GatewaysEqual compares two gateway sets, liveness included.
func GatewaysEqual(a, b Gateway) bool {
	return slices.Equal(a.Addresses, b.Addresses)
}
