package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/stacksearch/stacksearch/corpus"
	"github.com/stacksearch/stacksearch/index"
	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// Search keys are made like Typesense's and Stripe's: a random 32-byte secret,
// shown once, of which only the SHA-256 and a short prefix are kept.
const (
	secretPrefix     = "ss_"
	shownPrefixChars = len(secretPrefix) + 8
	keysFile         = "keys.json"
	maxKeys          = 10000
	maxDescription   = 256
	maxRateLimit     = 1e6
)

// storedKey is a search key as kept: never its secret, only the secret's hash.
type storedKey struct {
	ID          string              `json:"id"`
	Description string              `json:"description,omitempty"`
	Scope       map[string][]string `json:"scope,omitempty"`
	RateLimit   float64             `json:"rate_limit,omitempty"`
	CreateTime  time.Time           `json:"create_time"`
	Prefix      string              `json:"prefix"`
	Hash        string              `json:"sha256"`
	hash        [sha256.Size]byte
}

// KeyStore keeps the search keys: in keys.json in the data directory (mode
// 0600, replaced atomically on every change), or in memory without one.
type KeyStore struct {
	path   string
	mu     sync.RWMutex
	keys   []*storedKey
	byHash map[[sha256.Size]byte]*storedKey
}

// OpenKeyStore loads the keys of the data directory dir; "" keeps them in memory.
func OpenKeyStore(dir string) (*KeyStore, error) {
	ks := &KeyStore{byHash: map[[sha256.Size]byte]*storedKey{}}
	if dir == "" {
		return ks, nil
	}
	ks.path = filepath.Join(dir, keysFile)
	raw, err := os.ReadFile(ks.path)
	if errors.Is(err, os.ErrNotExist) {
		return ks, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	var file struct {
		Keys []*storedKey `json:"keys"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		return nil, fmt.Errorf("read keys %s: %w", ks.path, err)
	}
	for _, k := range file.Keys {
		h, err := hex.DecodeString(k.Hash)
		if err != nil || len(h) != sha256.Size || k.ID == "" {
			return nil, fmt.Errorf("read keys %s: key %q has no valid sha256", ks.path, k.ID)
		}
		copy(k.hash[:], h)
		ks.keys = append(ks.keys, k)
		ks.byHash[k.hash] = k
	}
	return ks, nil
}

// lookup returns the key whose secret is secret, or nil. The map is indexed by
// the secret's SHA-256, so the lookup's timing says nothing usable about the
// secret; the digests are then compared in constant time all the same.
func (ks *KeyStore) lookup(secret string) *storedKey {
	if !strings.HasPrefix(secret, secretPrefix) {
		return nil
	}
	h := sha256.Sum256([]byte(secret))
	ks.mu.RLock()
	k := ks.byHash[h]
	ks.mu.RUnlock()
	if k == nil || subtle.ConstantTimeCompare(k.hash[:], h[:]) != 1 {
		return nil
	}
	return k
}

// create makes a key and returns it with its secret, the only time the secret exists.
func (ks *KeyStore) create(desc string, scope map[string][]string, rateLimit float64) (*storedKey, string, error) {
	var raw [32]byte
	rand.Read(raw[:])
	secret := secretPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	var id [8]byte
	rand.Read(id[:])
	k := &storedKey{
		ID: "key_" + hex.EncodeToString(id[:]), Description: desc, Scope: scope, RateLimit: rateLimit,
		CreateTime: time.Now().UTC().Truncate(time.Second), Prefix: secret[:shownPrefixChars],
		hash: sha256.Sum256([]byte(secret)),
	}
	k.Hash = hex.EncodeToString(k.hash[:])
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if len(ks.keys) >= maxKeys {
		return nil, "", status.Errorf(codes.ResourceExhausted, "there are already %d keys, the most a server keeps: delete unused ones", maxKeys)
	}
	keys := append(slices.Clip(ks.keys), k)
	if err := ks.save(keys); err != nil {
		return nil, "", err
	}
	ks.keys = keys
	ks.byHash[k.hash] = k
	return k, secret, nil
}

// remove revokes the key with the given id at once.
func (ks *KeyStore) remove(id string) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	i := slices.IndexFunc(ks.keys, func(k *storedKey) bool { return k.ID == id })
	if i < 0 {
		return status.Errorf(codes.NotFound, "no key with id %q", id)
	}
	keys := slices.Delete(slices.Clone(ks.keys), i, i+1)
	if err := ks.save(keys); err != nil {
		return err
	}
	delete(ks.byHash, ks.keys[i].hash)
	ks.keys = keys
	return nil
}

// list returns the keys, oldest first.
func (ks *KeyStore) list() []*storedKey {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return slices.Clone(ks.keys)
}

// save writes keys to the keys file, when there is one.
func (ks *KeyStore) save(keys []*storedKey) error {
	if ks.path == "" {
		return nil
	}
	raw, err := json.MarshalIndent(struct {
		Keys []*storedKey `json:"keys"`
	}{keys}, "", "  ")
	if err != nil {
		return err
	}
	if err := replaceFile(ks.path, raw, 0o600); err != nil {
		return fmt.Errorf("save keys: %w", err)
	}
	return nil
}

// replaceFile replaces path with data (mode perm) so that a crash leaves
// either the old or the new content.
func replaceFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(perm)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// caller is who makes a call: the admin, a search key, or an anonymous client.
type caller struct {
	admin bool
	key   *storedKey
}

type callerKey struct{}

func callerFrom(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// authenticator decides who may call what. AdminService needs the admin token;
// SearchService needs a search key or the admin token unless searching is
// public, and a key presented is checked (and its scope and limit applied) even
// then.
type authenticator struct {
	adminSet   bool
	adminHash  [sha256.Size]byte
	keys       *KeyStore
	requireKey bool
}

func newAuthenticator(adminToken string, keys *KeyStore, requireKey bool) *authenticator {
	return &authenticator{adminSet: adminToken != "", adminHash: sha256.Sum256([]byte(adminToken)), keys: keys, requireKey: requireKey}
}

var (
	adminPrefix  = "/" + pb.AdminService_ServiceDesc.ServiceName + "/"
	searchPrefix = "/" + pb.SearchService_ServiceDesc.ServiceName + "/"
)

// isAdmin reports, in constant time, whether tok is the admin token.
func (a *authenticator) isAdmin(tok string) bool {
	h := sha256.Sum256([]byte(tok))
	return a.adminSet && subtle.ConstantTimeCompare(h[:], a.adminHash[:]) == 1
}

func (a *authenticator) interceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		var c caller
		switch {
		case strings.HasPrefix(info.FullMethod, adminPrefix):
			if !a.adminSet {
				return nil, status.Error(codes.PermissionDenied,
					"the admin API is disabled: start searchd with STACKSEARCH_ADMIN_TOKEN set to a secret to enable it")
			}
			tok, ok := bearer(ctx)
			switch {
			case !ok:
				return nil, status.Error(codes.Unauthenticated, "admin calls need the header Authorization: Bearer <admin token>")
			case a.isAdmin(tok):
				c.admin = true
			case a.keys.lookup(tok) != nil:
				return nil, status.Error(codes.PermissionDenied, "a search key may only search: admin calls need the admin token")
			default:
				return nil, status.Error(codes.Unauthenticated, "the admin token is not valid")
			}
		case strings.HasPrefix(info.FullMethod, searchPrefix):
			tok, ok := bearer(ctx)
			switch {
			case !ok && a.requireKey:
				return nil, status.Error(codes.Unauthenticated, "searching needs a key: send the header Authorization: Bearer <search key>")
			case !ok:
			case a.isAdmin(tok):
				c.admin = true
			default:
				if c.key = a.keys.lookup(tok); c.key == nil {
					return nil, status.Error(codes.Unauthenticated, "the search key is not valid (revoked, or mistyped)")
				}
			}
		}
		return handler(context.WithValue(ctx, callerKey{}, c), req)
	}
}

// CreateKey creates a search key and returns its secret, once.
func (a adminAPI) CreateKey(ctx context.Context, in *pb.CreateKeyRequest) (*pb.CreateKeyResponse, error) {
	k := in.GetKey()
	desc := strings.TrimSpace(k.GetDescription())
	if len(desc) > maxDescription {
		return nil, invalid("key.description", fmt.Sprintf("is %d bytes, more than the limit of %d", len(desc), maxDescription))
	}
	if r := k.GetRateLimit(); r < 0 || r > maxRateLimit || math.IsNaN(r) {
		return nil, invalid("key.rate_limit", fmt.Sprintf("is %v; must be 0 (the server's per-client limit) to %g searches a second", r, float64(maxRateLimit)))
	}
	scope, err := normaliseScope(k.GetScope(), a.tax)
	if err != nil {
		return nil, err
	}
	sk, secret, err := a.keys.create(desc, scope, k.GetRateLimit())
	if err != nil {
		return nil, toStatus(ctx, a.log, err)
	}
	a.log.InfoContext(ctx, "search key created", slog.String("key_id", sk.ID), slog.String("prefix", sk.Prefix))
	return &pb.CreateKeyResponse{Key: keyToProto(sk), Secret: secret}, nil
}

// ListKeys lists the search keys, oldest first, never with their secrets.
func (a adminAPI) ListKeys(ctx context.Context, in *pb.ListKeysRequest) (*pb.ListKeysResponse, error) {
	out := &pb.ListKeysResponse{Keys: []*pb.Key{}}
	for _, k := range a.keys.list() {
		out.Keys = append(out.Keys, keyToProto(k))
	}
	return out, nil
}

// DeleteKey revokes a search key at once.
func (a adminAPI) DeleteKey(ctx context.Context, in *pb.DeleteKeyRequest) (*pb.DeleteKeyResponse, error) {
	if in.GetId() == "" {
		return nil, invalid("id", "must not be empty")
	}
	if err := a.keys.remove(in.GetId()); err != nil {
		return nil, toStatus(ctx, a.log, err)
	}
	a.log.InfoContext(ctx, "search key revoked", slog.String("key_id", in.GetId()))
	return &pb.DeleteKeyResponse{}, nil
}

func keyToProto(k *storedKey) *pb.Key {
	out := &pb.Key{
		Id: k.ID, Description: k.Description, RateLimit: k.RateLimit,
		CreateTime: timestamppb.New(k.CreateTime), Prefix: k.Prefix,
	}
	if len(k.Scope) > 0 {
		out.Scope = &pb.KeyScope{
			Languages: k.Scope[corpus.FieldLanguages], Frameworks: k.Scope[corpus.FieldFrameworks],
			Databases: k.Scope[corpus.FieldDatabases], Topics: k.Scope[corpus.FieldTopics], Types: k.Scope["types"],
		}
	}
	return out
}

// normaliseScope checks a key's scope and maps its values to the taxonomy's
// canonical names, as searches do with filter values.
func normaliseScope(in *pb.KeyScope, tax *corpus.Taxonomy) (map[string][]string, error) {
	out := map[string][]string{}
	for field, vals := range map[string][]string{
		corpus.FieldLanguages: in.GetLanguages(), corpus.FieldFrameworks: in.GetFrameworks(),
		corpus.FieldDatabases: in.GetDatabases(), corpus.FieldTopics: in.GetTopics(), "types": in.GetTypes(),
	} {
		if len(vals) > maxScopeValues {
			return nil, invalid("key.scope."+field, fmt.Sprintf("has %d values, more than the limit of %d", len(vals), maxScopeValues))
		}
		for _, v := range vals {
			v = strings.TrimSpace(v)
			if v == "" || len(v) > index.MaxFacetValueSize {
				return nil, invalid("key.scope."+field, fmt.Sprintf("values must be 1 to %d bytes", index.MaxFacetValueSize))
			}
			v = canonicalValue(tax, field, v)
			if field == "types" && v != corpus.TypeSection && v != corpus.TypeFAQ {
				return nil, invalid("key.scope.types", fmt.Sprintf("unknown type %q; use %q or %q", v, corpus.TypeSection, corpus.TypeFAQ))
			}
			if !slices.Contains(out[field], v) {
				out[field] = append(out[field], v)
			}
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

const maxScopeValues = 64

// canonicalValue is the value a filter on field matches: the taxonomy's name
// for a known value, the lower-cased type, or the value as given.
func canonicalValue(tax *corpus.Taxonomy, field, v string) string {
	v = strings.TrimSpace(v)
	if field == "types" {
		return strings.ToLower(v)
	}
	if tax != nil {
		if c, ok := tax.Canonical(field, v); ok {
			return c
		}
	}
	return v
}

// applyScope confines a scoped key to its scope. A search's filters become the
// scope ANDed with the request's own: a field the request does not filter is
// filtered by the scope, and a request value outside the scope is
// PermissionDenied. A record outside the scope is NotFound to GetDocument, as if
// it did not exist. Methods that do not apply scopes refuse scoped keys.
func applyScope(tax *corpus.Taxonomy, log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		k := callerFrom(ctx).key
		if k == nil || len(k.Scope) == 0 || !strings.HasPrefix(info.FullMethod, searchPrefix) {
			return handler(ctx, req)
		}
		switch in := req.(type) {
		case *pb.SearchRequest:
			in = proto.Clone(in).(*pb.SearchRequest)
			if err := scopeRequest(tax, in, k.Scope); err != nil {
				return nil, err
			}
			resp, err := handler(ctx, in)
			if err != nil {
				return nil, err
			}
			confineResponse(resp.(*pb.SearchResponse), k.Scope)
			return resp, nil
		case *pb.GetDocumentRequest:
			resp, err := handler(ctx, in)
			if err != nil {
				return nil, err
			}
			if !inScope(resp.(*pb.Document), k.Scope) {
				return nil, toStatus(ctx, log, fmt.Errorf("document %q: %w", in.GetId(), index.ErrNotFound))
			}
			return resp, nil
		case *pb.SuggestRequest:
			in = proto.Clone(in).(*pb.SuggestRequest)
			if err := scopeRequest(tax, in, k.Scope); err != nil {
				return nil, err
			}
			return handler(ctx, in)
		case *pb.ReportClickRequest:
			return handler(ctx, req)
		}
		return nil, status.Errorf(codes.PermissionDenied, "this key is scoped, and %s does not apply key scopes yet: use Search", info.FullMethod)
	}
}

// scopedFilter returns the filter values a scoped search uses on field: the
// scope's values the request names, or all of them when it names none.
func scopedFilter(tax *corpus.Taxonomy, field string, requested, allowed []string) ([]string, error) {
	if len(requested) == 0 {
		return allowed, nil
	}
	var out []string
	for _, v := range requested {
		c := canonicalValue(tax, field, v)
		i := slices.IndexFunc(allowed, func(a string) bool { return strings.EqualFold(a, c) })
		if i < 0 {
			return nil, status.Errorf(codes.PermissionDenied, "%s: %q is outside this key's scope (%s)", field, v, strings.Join(allowed, ", "))
		}
		if !slices.Contains(out, allowed[i]) {
			out = append(out, allowed[i])
		}
	}
	return out, nil
}

// filterSlots returns the filter fields of a search or suggest request by facet name.
func filterSlots(in proto.Message) map[string]*[]string {
	switch in := in.(type) {
	case *pb.SearchRequest:
		return map[string]*[]string{corpus.FieldLanguages: &in.Languages, corpus.FieldFrameworks: &in.Frameworks,
			corpus.FieldDatabases: &in.Databases, corpus.FieldTopics: &in.Topics, "types": &in.Types}
	case *pb.SuggestRequest:
		return map[string]*[]string{corpus.FieldLanguages: &in.Languages, corpus.FieldFrameworks: &in.Frameworks,
			corpus.FieldDatabases: &in.Databases, corpus.FieldTopics: &in.Topics, "types": &in.Types}
	}
	return nil
}

// scopeRequest narrows a request's filters to a key's scope.
func scopeRequest(tax *corpus.Taxonomy, in proto.Message, scope map[string][]string) error {
	slots := filterSlots(in)
	for field, allowed := range scope {
		slot := slots[field]
		if slot == nil {
			continue
		}
		vals, err := scopedFilter(tax, field, *slot, allowed)
		if err != nil {
			return err
		}
		*slot = vals
	}
	return nil
}

// confineResponse removes from a scoped search's response what the filters alone
// do not keep inside the scope: facet values of a scoped field outside it (a
// disjunctive facet is counted without its field's filter), and an answer that
// is not one of the hits.
func confineResponse(resp *pb.SearchResponse, scope map[string][]string) {
	for field, allowed := range scope {
		fc := resp.Facets[field]
		if fc == nil {
			continue
		}
		fc.Values = slices.DeleteFunc(fc.Values, func(v *pb.FacetValue) bool {
			return !slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, v.GetValue()) })
		})
	}
	if a := resp.GetAnswer(); a != nil && !slices.ContainsFunc(resp.Hits, func(h *pb.Hit) bool { return h.GetId() == a.GetId() }) {
		resp.Answer = nil
	}
}

// inScope reports whether a record matches every field of a scope.
func inScope(d *pb.Document, scope map[string][]string) bool {
	for field, allowed := range scope {
		var have []string
		switch field {
		case corpus.FieldLanguages:
			have = d.GetLanguages()
		case corpus.FieldFrameworks:
			have = d.GetFrameworks()
		case corpus.FieldDatabases:
			have = d.GetDatabases()
		case corpus.FieldTopics:
			have = d.GetTopics()
		case "types":
			have = []string{d.GetType()}
		}
		if !slices.ContainsFunc(have, func(v string) bool { return slices.Contains(allowed, v) }) {
			return false
		}
	}
	return true
}
