package discovery

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Access says who may do what in the registry once etcd checks it. Users
// are mesh identities: with client certificates required, etcd takes a
// request's user from its certificate's common name, which shopmesh's
// certificates set to the service name (tlsconf, devpki).
type Access struct {
	// Registrants may write only their own ServicePrefix (their
	// registrations, and the leases that hold them) and read all of Prefix
	// (their peers).
	Registrants []string
	// Readers may only read Prefix: processes that route but do not
	// register, such as the gateway.
	Readers []string
	// Admins hold etcd's root role: every key, users, roles, and this
	// set-up itself on a later run. An operator's identity, never a
	// service's.
	Admins []string
}

// readerRole is the role of Access.Readers.
const readerRole = "registry-reader"

// EnableAccessControl gives etcd the users and roles of a and turns its
// authentication on, so that each registrant can change only its own
// registrations and no identity outside a can read or write at all. It is
// idempotent: run it on every start of the deployment; on an etcd where it
// already ran, cli must be an admin's. Roles and grants are created before
// authentication is on, so a service registering meanwhile never finds
// itself locked out.
func EnableAccessControl(ctx context.Context, cli *clientv3.Client, a Access) error {
	if len(a.Admins) == 0 {
		return errors.New("registry access: no admin (nobody could change the roles once authentication is on)")
	}
	for _, name := range slices.Concat(a.Registrants, a.Readers, a.Admins) {
		if err := validateService(name); err != nil {
			return fmt.Errorf("registry access: %w", err)
		}
	}
	read := clientv3.PermissionType(clientv3.PermRead)
	if err := ensureRole(ctx, cli, readerRole, grant{Prefix, read}); err != nil {
		return err
	}
	for _, s := range a.Readers {
		if err := ensureUser(ctx, cli, s, readerRole); err != nil {
			return err
		}
	}
	for _, s := range a.Registrants {
		// A role of the service's own name: its prefix read-write, and
		// everyone's read-only (etcd grants the union).
		own := grant{ServicePrefix(s), clientv3.PermissionType(clientv3.PermReadWrite)}
		if err := ensureRole(ctx, cli, s, own, grant{Prefix, read}); err != nil {
			return err
		}
		if err := ensureUser(ctx, cli, s, s); err != nil {
			return err
		}
	}
	// etcd enables authentication only once a user named root with the
	// root role exists. It has no password, and no certificate names it.
	for _, admin := range append([]string{"root"}, a.Admins...) {
		if err := ensureUser(ctx, cli, admin, "root"); err != nil {
			return err
		}
	}
	if _, err := cli.AuthEnable(ctx); err != nil { // a no-op when it is on
		return fmt.Errorf("registry access: enable authentication: %w", err)
	}
	return nil
}

// grant is read or read-write access to every key under prefix.
type grant struct {
	prefix string
	perm   clientv3.PermissionType
}

// ensureRole creates role unless it exists and grants it grants (granting
// again what a role holds changes nothing).
func ensureRole(ctx context.Context, cli *clientv3.Client, role string, grants ...grant) error {
	if _, err := cli.RoleAdd(ctx, role); err != nil && !errors.Is(err, rpctypes.ErrRoleAlreadyExist) {
		return fmt.Errorf("registry access: add role %s: %w", role, err)
	}
	for _, g := range grants {
		if _, err := cli.RoleGrantPermission(ctx, role, g.prefix, clientv3.GetPrefixRangeEnd(g.prefix), g.perm); err != nil {
			return fmt.Errorf("registry access: grant %s %v on %s*: %w", role, g.perm, g.prefix, err)
		}
	}
	return nil
}

// ensureUser creates user, authenticated by certificate only (no
// password), unless it exists, and grants it role.
func ensureUser(ctx context.Context, cli *clientv3.Client, user, role string) error {
	_, err := cli.UserAddWithOptions(ctx, user, "", &clientv3.UserAddOptions{NoPassword: true})
	if err != nil && !errors.Is(err, rpctypes.ErrUserAlreadyExist) {
		return fmt.Errorf("registry access: add user %s: %w", user, err)
	}
	if _, err := cli.UserGrantRole(ctx, user, role); err != nil {
		return fmt.Errorf("registry access: grant %s to %s: %w", role, user, err)
	}
	return nil
}
