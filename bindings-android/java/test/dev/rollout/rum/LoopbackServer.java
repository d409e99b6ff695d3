package dev.rollout.rum;

import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.Executors;

/**
 * An HTTP server on a free loopback port answering every path with one handler, on daemon
 * threads (a handler may never return): what the tests' stand-ins for proxies and moved or slow
 * collectors run on.
 */
final class LoopbackServer implements AutoCloseable {
    private final HttpServer server;

    LoopbackServer(HttpHandler handler) throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.setExecutor(Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "loopback-server");
            t.setDaemon(true);
            return t;
        }));
        server.createContext("/", handler);
        server.start();
    }

    /** The base URL to give the agent. */
    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
