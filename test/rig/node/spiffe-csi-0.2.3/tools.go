//go:build tools

// Pins github.com/spiffe/spiffe-csi v0.2.3, the tag the action's manifests use for
// ghcr.io/spiffe/spiffe-csi-driver (SPIFFE_CSI_DRIVER_TAG in src/render/images.ts).
// images.sh builds its cmd/spiffe-csi-driver from this module.
package tools

import _ "github.com/spiffe/spiffe-csi/cmd/spiffe-csi-driver"
