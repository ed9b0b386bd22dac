// A local stand-in for github.com/Keyfactor/ejbca-go-client-sdk, used only by
// ../go.mod's replace directive (see api/ejbca/stub.go).
module github.com/Keyfactor/ejbca-go-client-sdk

go 1.23.0
