// reconcile-test-plugin: a minimal external secrets-engine plugin for OpenBao (and Vault).
//
// It exists so tests, the demo and the benchmark can register, mount, tune and reload a real plugin.
// Its version is compiled in (-ldflags "-X main.version=v1.0.0"), so each version's file has its own
// sha256, and `GET /v1/<mount>/version` answers {"version": ..., "pid": ...}: a test sees which
// version (and which process) a mount really runs. Built with -X main.broken=true it exits at once,
// so a mount or reload of that version fails. Protocol facts: docs/plugin-behaviour.md.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"reconcile-test-plugin/logical"
	"reconcile-test-plugin/pb"
)

// Set by the linker; see testplugin/build.py.
var (
	version = "v0.0.0"
	broken  = "false"
)

// OpenBao's error types (sdk/plugin/pb/translation.go): 5 = unsupported operation (HTTP 405).
const errUnsupportedOperation = 5

// idleLimit: OpenBao leaks the process when the connection fails right after the handshake; a
// plugin that was never called by then exits by itself instead of lingering.
const idleLimit = 30 * time.Second

var lastCall atomic.Int64 // unix nanoseconds of the last gRPC call; 0 = none yet

type backend struct{}

func (backend) Setup(context.Context, *pb.SetupArgs) (*pb.SetupReply, error) {
	return &pb.SetupReply{}, nil
}

func (backend) Type(context.Context, *pb.Empty) (*pb.TypeReply, error) {
	return &pb.TypeReply{Type: 1}, nil // 1 = logical (secrets engine)
}

func (backend) SpecialPaths(context.Context, *pb.Empty) (*pb.SpecialPathsReply, error) {
	return &pb.SpecialPathsReply{Paths: &pb.Paths{}}, nil
}

func (backend) Initialize(context.Context, *pb.InitializeArgs) (*pb.InitializeReply, error) {
	return &pb.InitializeReply{}, nil
}

func (backend) Cleanup(context.Context, *pb.Empty) (*pb.Empty, error) {
	return &pb.Empty{}, nil
}

func (backend) InvalidateKey(context.Context, *pb.InvalidateKeyArgs) (*pb.Empty, error) {
	return &pb.Empty{}, nil
}

func (backend) HandleExistenceCheck(context.Context, *pb.HandleExistenceCheckArgs) (*pb.HandleExistenceCheckReply, error) {
	return &pb.HandleExistenceCheckReply{CheckFound: false}, nil
}

// HandleRequest answers a read of "version"; "resolve-path" (OpenBao 2.7, before every request) and
// "rollback" (every 60 s) get an empty reply; a read of any other path is a 404, anything else a 405.
func (backend) HandleRequest(_ context.Context, args *pb.HandleRequestArgs) (*pb.HandleRequestReply, error) {
	req := args.GetRequest()
	switch req.GetOperation() {
	case "resolve-path", "rollback":
		return &pb.HandleRequestReply{}, nil
	case "read":
		if req.GetPath() != "version" {
			return &pb.HandleRequestReply{}, nil
		}
		data, err := json.Marshal(map[string]interface{}{"version": version, "pid": os.Getpid()})
		if err != nil {
			return nil, err
		}
		return &pb.HandleRequestReply{Response: &pb.Response{Data: string(data)}}, nil
	}
	return &pb.HandleRequestReply{Err: &pb.ProtoError{ErrType: errUnsupportedOperation}}, nil
}

type versionServer struct{}

func (versionServer) Version(context.Context, *logical.Empty) (*logical.VersionReply, error) {
	return &logical.VersionReply{PluginVersion: version}, nil
}

// backendPlugin registers the services on go-plugin's gRPC server (go-plugin serves the broker,
// controller and health services itself).
type backendPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

func (backendPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterBackendServer(s, backend{})
	logical.RegisterPluginVersionServer(s, versionServer{})
	return nil
}

func (backendPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (interface{}, error) {
	return nil, fmt.Errorf("reconcile-test-plugin is a server only")
}

func touch(ctx context.Context, req interface{}, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (interface{}, error) {
	lastCall.Store(time.Now().UnixNano())
	return h(ctx, req)
}

func touchStream(srv interface{}, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	lastCall.Store(time.Now().UnixNano())
	return h(srv, ss)
}

// watchdog ends the process when its parent (the server) is gone or it was never called.
func watchdog() {
	parent := os.Getppid()
	start := time.Now()
	for range time.Tick(500 * time.Millisecond) {
		if os.Getppid() != parent {
			os.Exit(0)
		}
		if lastCall.Load() == 0 && time.Since(start) > idleLimit {
			os.Exit(0)
		}
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--version" {
		fmt.Println(version)
		return
	}
	if broken == "true" {
		fmt.Fprintf(os.Stderr, "reconcile-test-plugin %s is built broken: it never starts\n", version)
		os.Exit(1)
	}
	go watchdog()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			MagicCookieKey:   "VAULT_BACKEND_PLUGIN",
			MagicCookieValue: "6669da05-b1c8-4f49-97d9-c8e5bed98e20",
		},
		VersionedPlugins: map[int]plugin.PluginSet{5: {"backend": backendPlugin{}}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.UnaryInterceptor(touch), grpc.StreamInterceptor(touchStream))
			return grpc.NewServer(opts...)
		},
	})
}
