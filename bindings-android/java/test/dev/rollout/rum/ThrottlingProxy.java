package dev.rollout.rum;

import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A stand-in for what sits between an app and the collector in production (a rate-limiting
 * reverse proxy or API gateway; the collector itself never answers 429): answers the first
 * request with {@code 429 Too Many Requests} and {@code Retry-After}, and forwards every later
 * one to the real collector, returning its answer.
 */
final class ThrottlingProxy implements AutoCloseable {
    private final LoopbackServer server;
    private final String upstream;
    private final int retryAfterSeconds;
    /** When each request arrived (System.nanoTime) and the status it got. */
    final List<long[]> requests = new CopyOnWriteArrayList<>();

    ThrottlingProxy(String upstream, int retryAfterSeconds) throws IOException {
        this.upstream = upstream;
        this.retryAfterSeconds = retryAfterSeconds;
        server = new LoopbackServer(this::handle);
    }

    /** The base URL to give the agent. */
    String url() {
        return server.url();
    }

    private void handle(HttpExchange exchange) throws IOException {
        long arrived = System.nanoTime();
        byte[] body;
        try (InputStream in = exchange.getRequestBody()) {
            body = in.readAllBytes();
        }
        int status;
        byte[] answer;
        if (requests.isEmpty()) {
            status = 429;
            answer = "slow down".getBytes("UTF-8");
            exchange.getResponseHeaders().add("Retry-After", Integer.toString(retryAfterSeconds));
        } else {
            HttpURLConnection forward = (HttpURLConnection) new URL(
                    upstream + exchange.getRequestURI()).openConnection();
            forward.setRequestMethod(exchange.getRequestMethod());
            forward.setDoOutput(true);
            for (Map.Entry<String, List<String>> h : exchange.getRequestHeaders().entrySet()) {
                String name = h.getKey();
                if (name.equalsIgnoreCase("Host") || name.equalsIgnoreCase("Content-Length")
                        || name.equalsIgnoreCase("Connection")) {
                    continue;
                }
                for (String value : h.getValue()) {
                    forward.addRequestProperty(name, value);
                }
            }
            forward.setFixedLengthStreamingMode(body.length);
            try (OutputStream out = forward.getOutputStream()) {
                out.write(body);
            }
            status = forward.getResponseCode();
            try (InputStream in = status >= 400 ? forward.getErrorStream() : forward.getInputStream()) {
                answer = in == null ? new byte[0] : in.readAllBytes();
            }
        }
        requests.add(new long[] {arrived, status});
        exchange.sendResponseHeaders(status, answer.length == 0 ? -1 : answer.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(answer);
        }
    }

    @Override
    public void close() {
        server.close();
    }
}
