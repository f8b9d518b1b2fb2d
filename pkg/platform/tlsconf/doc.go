// Package tlsconf gives every shopmesh process its identity and the TLS
// configurations that prove it: all service-to-service traffic is mutual TLS,
// TLS 1.3 only.
//
// An identity is a service name, written in certificates as the URI SAN
// spiffe://shopmesh/<service> (see SPIFFEID), as SPIFFE X.509-SVIDs do. Load
// reads it from a directory laid out the way cmd/devcerts writes one:
//
//	ca.pem               the trust anchors every peer is checked against (one CA, or two during a CA rotation)
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
// Rotation needs no restart. Every configuration reads the identity current
// at each handshake, and Reload (or Watch, which polls the files; the
// services do it every TLS_RELOAD_INTERVAL) replaces it when the files hold
// a new, valid one; a half-written rotation is refused and the current
// identity kept until the files agree. Established connections keep the
// certificates they were made with. Leaves re-issued from the same CA (make
// certs ROTATE=1) need nothing else; a new CA goes in three steps, each
// reloaded everywhere before the next: put both CAs in ca.pem, re-issue
// every leaf from the new one, then drop the old CA from ca.pem. The dev
// PKI is valid for a year and cmd/devcerts renews it when less than 30 days
// are left.
package tlsconf
