// AssemblyScript proxy-wasm test plugin (@solo-io/proxy-runtime 0.1.8,
// assemblyscript 0.14.13). Adds response header x-as-plugin, copies the
// request path into response header x-as-path, and answers 403 locally on
// path /as-local. Built by the host tests:
//   npm ci && npx asc assembly/index.ts -b asplugin.wasm --use abort=abort_proc_exit -O3
export * from "@solo-io/proxy-runtime/proxy";
import {
  RootContext, Context, registerRootContext, FilterHeadersStatusValues,
  stream_context, send_local_response, GrpcStatusValues, log, LogLevelValues,
} from "@solo-io/proxy-runtime";

class ASRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new ASStream(context_id, this);
  }
  // The SDK's onConfigure passes the size where a pointer belongs; this
  // plugin needs no configuration.
  onConfigure(configuration_size: u32): bool {
    return true;
  }
}

class ASStream extends Context {
  path: string = "";

  constructor(context_id: u32, root_context: ASRoot) {
    super(context_id, root_context);
  }

  onRequestHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    this.path = stream_context.headers.request.get(":path");
    log(LogLevelValues.info, "asplugin: request path " + this.path);
    if (this.path == "/as-local") {
      send_local_response(403, "asplugin", String.UTF8.encode("denied by asplugin"), [], GrpcStatusValues.Ok);
      return FilterHeadersStatusValues.StopIteration;
    }
    return FilterHeadersStatusValues.Continue;
  }

  onResponseHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    stream_context.headers.response.add("x-as-plugin", "yes");
    stream_context.headers.response.add("x-as-path", this.path);
    return FilterHeadersStatusValues.Continue;
  }
}

function newRoot(context_id: u32): RootContext {
  return new ASRoot(context_id);
}

// Registered under the plugin name and under "" (hosts differ in what
// plugin_root_id returns).
registerRootContext(newRoot, "asplugin");
registerRootContext(newRoot, "");
