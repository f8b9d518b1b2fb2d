// Package tlsconf gives every shopmesh process its identity and the TLS
// configurations that prove it: all service-to-service traffic is mutual TLS,
// TLS 1.3 only.
//
// An identity is a service name, written in certificates as the URI SAN
// spiffe://shopmesh/<service> (see SPIFFEID), as SPIFFE X.509-SVIDs do. Load
// reads it from a directory laid out the way cmd/devcerts writes one:
//
//	ca.pem               the trust anchor every peer is checked against
//	<service>.pem        this process's certificate (leaf first, then any intermediates)
//	<service>-key.pem    its private key (PKCS#8)
//
// and refuses a certificate that does not carry the requested identity or
// does not chain to the CA, so a mis-mounted secret stops the process at
// start-up instead of failing every handshake later.
//
// Three configurations, one per kind of peer:
//
//   - ServerConfig: a gRPC server. Every client must present a certificate
//     from the CA with a shopmesh identity; which caller may call which
//     method is decided afterwards, from PeerService, by grpcx's authz
//     interceptor ("enforced by the callee from the caller's certificate").
//   - ClientConfig(peer): a gRPC client of another shopmesh service. The
//     server's address comes from etcd, not from a name the certificate could
//     vouch for, so the host name is not checked; the server must instead
//     prove it is spiffe://shopmesh/<peer>. An etcd entry pointing at the
//     wrong process therefore gets no traffic (seed rule 2).
//   - HostClientConfig(serverName): ordinary host-name verification, for
//     infrastructure reached by a DNS name (etcd, the payment provider
//     simulator, the OpenTelemetry collector).
//
// Certificates are read once, by Load, at start-up. There is no hot reload:
// to rotate a certificate, restart the process (a rolling restart loses no
// request, see lifecycle). The dev PKI is valid for a year and cmd/devcerts
// renews it when less than 30 days are left.
package tlsconf
