// Package ejbca is a test-rig stub of github.com/Keyfactor/ejbca-go-client-sdk/api/ejbca.
//
// Why: SPIRE v1.15.3's server always links its EJBCA UpstreamAuthority plugin
// (pkg/server/plugin/upstreamauthority/ejbca), which imports this package, and
// the Go module proxy refuses github.com/Keyfactor/ejbca-go-client-sdk v1.1.0
// (403), so spire-server-1-15 could not be built. test/rig/bin-build/spire-1-15/go.mod
// replaces that module with this directory.
//
// The rig never configures the EJBCA UpstreamAuthority; every other part of
// the server is SPIRE 1.15.3 as released. This stub is hand-written from the
// plugin's call sites (ejbca.go, ejbca_client.go) and holds only what they
// use. Nothing here works: building an authenticator, creating a client and
// enrolling a certificate all return ErrUnavailable, so configuring the
// plugin fails with that error.
package ejbca

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
)

// ErrUnavailable is returned by every operation of this stub.
var ErrUnavailable = errors.New("EJBCA SDK not available in this build (test/rig stub of github.com/Keyfactor/ejbca-go-client-sdk)")

// Authenticator stands for the SDK's client authenticator; the stub never
// produces one.
type Authenticator interface{}

// MTLSAuthenticatorBuilder collects nothing; Build always fails.
type MTLSAuthenticatorBuilder struct{}

func NewMTLSAuthenticatorBuilder() *MTLSAuthenticatorBuilder { return &MTLSAuthenticatorBuilder{} }

func (b *MTLSAuthenticatorBuilder) WithClientCertificate(*tls.Certificate) *MTLSAuthenticatorBuilder {
	return b
}

func (b *MTLSAuthenticatorBuilder) WithCaCertificates([]*x509.Certificate) *MTLSAuthenticatorBuilder {
	return b
}

func (b *MTLSAuthenticatorBuilder) Build() (Authenticator, error) { return nil, ErrUnavailable }

// Configuration is what NewAPIClient takes; it keeps nothing but Host.
type Configuration struct {
	Host string
}

func NewConfiguration() *Configuration { return &Configuration{} }

func (*Configuration) SetAuthenticator(Authenticator) {}

// APIClient is never returned: NewAPIClient always fails.
type APIClient struct {
	V1CertificateApi *V1CertificateApiService
}

func NewAPIClient(*Configuration) (*APIClient, error) { return nil, ErrUnavailable }

type V1CertificateApiService struct{}

func (s *V1CertificateApiService) EnrollPkcs10Certificate(ctx context.Context) ApiEnrollPkcs10CertificateRequest {
	return ApiEnrollPkcs10CertificateRequest{}
}

type ApiEnrollPkcs10CertificateRequest struct{}

func (r ApiEnrollPkcs10CertificateRequest) EnrollCertificateRestRequest(EnrollCertificateRestRequest) ApiEnrollPkcs10CertificateRequest {
	return r
}

func (r ApiEnrollPkcs10CertificateRequest) Execute() (*CertificateRestResponse, *http.Response, error) {
	return nil, nil, ErrUnavailable
}

// EnrollCertificateRestRequest: the setters record nothing (nothing is sent).
type EnrollCertificateRestRequest struct{}

func NewEnrollCertificateRestRequest() *EnrollCertificateRestRequest {
	return &EnrollCertificateRestRequest{}
}

func (*EnrollCertificateRestRequest) SetUsername(string)                 {}
func (*EnrollCertificateRestRequest) SetPassword(string)                 {}
func (*EnrollCertificateRestRequest) SetCertificateRequest(string)       {}
func (*EnrollCertificateRestRequest) SetCertificateAuthorityName(string) {}
func (*EnrollCertificateRestRequest) SetCertificateProfileName(string)   {}
func (*EnrollCertificateRestRequest) SetEndEntityProfileName(string)     {}
func (*EnrollCertificateRestRequest) SetIncludeChain(bool)               {}
func (*EnrollCertificateRestRequest) SetAccountBindingId(string)         {}

// CertificateRestResponse is never returned: Execute always fails.
type CertificateRestResponse struct {
	CertificateChain []string
}

func (*CertificateRestResponse) GetResponseFormat() string { return "" }
func (*CertificateRestResponse) GetCertificate() string    { return "" }

// GenericOpenAPIError is the SDK's API error type; the stub returns none.
type GenericOpenAPIError struct{}

func (e *GenericOpenAPIError) Error() string { return ErrUnavailable.Error() }
func (e *GenericOpenAPIError) Body() []byte  { return nil }
