#define _GNU_SOURCE
/* A model server for the serving tests: answers GET /ping and POST /invocations the way its
 * mode says, on SAGEMAKER_BIND_TO_PORT or 8080 (PORT= overrides both). It insists on being run
 * with `serve` as its last argument, as SageMaker hosting runs it; it exits 0 on SIGTERM.
 *   ok          /ping 200; /invocations 200: "model=<first line of /opt/ml/model/model.bin>;" and the
 *               body; /execution-parameters 200 JSON with the SAGEMAKER_BATCH it was given
 *   crash       exits 3 at once
 *   ignore-term ignores SIGTERM (the stop scenario needs SIGKILL)
 *   slow-invoke /invocations answers after 5 s
 *   slow-ping   /ping 200 after 3 s
 *   ping-500    /ping 500
 *   reject      /invocations 415
 *   reset       /invocations: the connection closed without an answer
 *   loopback    listens on 127.0.0.1 only
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void reply(int fd, const char *status, const char *type, const char *body, size_t size) {
    char head[512];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, type, size);
    write(fd, head, (size_t)n);
    if (size)
        write(fd, body, size);
}

static void on_term(int signum) { (void)signum; puts("SIGTERM: stopping"); fflush(stdout); _exit(0); }

int main(int argc, char **argv) {
    const char *mode = "ok";
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--mode=", 7))
            mode = argv[i] + 7;
    if (argc < 2 || strcmp(argv[argc - 1], "serve") != 0) {
        fprintf(stderr, "usage: server [--mode=M] serve\n");
        return 2;
    }
    signal(SIGTERM, strcmp(mode, "ignore-term") ? on_term : SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    const char *port_text = getenv("PORT") ? getenv("PORT") : getenv("SAGEMAKER_BIND_TO_PORT");
    int port = port_text ? atoi(port_text) : 8080;
    int server = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_port = htons((unsigned short)port);
    address.sin_addr.s_addr = htonl(strcmp(mode, "loopback") ? INADDR_ANY : INADDR_LOOPBACK);
    if (bind(server, (struct sockaddr *)&address, sizeof address) || listen(server, 16)) {
        perror("bind");
        return 1;
    }
    if (!strcmp(mode, "crash")) {
        fputs("error: cannot load the model\n", stderr);
        return 3;
    }
    char model[128] = "none";
    FILE *in = fopen("/opt/ml/model/model.bin", "r");
    if (in) {
        if (fgets(model, sizeof model, in))
            model[strcspn(model, "\n")] = 0;
        fclose(in);
    }
    printf("serving (%s) on port %d\n", mode, port);
    fflush(stdout);
    static char request[8 << 20];
    for (;;) {
        int fd = accept(server, NULL, NULL);
        if (fd < 0)
            continue;
        size_t have = 0;
        char *end = NULL;
        while (!end && have < sizeof request - 1) {
            ssize_t n = read(fd, request + have, sizeof request - 1 - have);
            if (n <= 0)
                break;
            have += (size_t)n;
            request[have] = 0;
            end = strstr(request, "\r\n\r\n");
        }
        if (!end) {
            close(fd);
            continue;
        }
        size_t length = 0;
        char *field = strcasestr(request, "\r\nContent-Length:");
        if (field)
            length = strtoul(field + 17, NULL, 10);
        size_t head = (size_t)(end + 4 - request);
        while (have < head + length && have < sizeof request - 1) {
            ssize_t n = read(fd, request + have, sizeof request - 1 - have);
            if (n <= 0)
                break;
            have += (size_t)n;
        }
        if (!strncmp(request, "GET /ping ", 10)) {
            if (!strcmp(mode, "slow-ping"))
                sleep(3);
            if (!strcmp(mode, "ping-500"))
                reply(fd, "500 Internal Server Error", "text/plain", "model not loaded", 16);
            else
                reply(fd, "200 OK", "text/plain", "", 0);
        } else if (!strncmp(request, "POST /invocations ", 18)) {
            if (!strcmp(mode, "reject"))
                reply(fd, "415 Unsupported Media Type", "text/plain", "expected text/csv", 17);
            else if (strcmp(mode, "reset") != 0) {
                static char answer[8 << 20];
                if (!strcmp(mode, "slow-invoke"))
                    sleep(5);
                int n = snprintf(answer, sizeof answer, "model=%s;", model);
                memcpy(answer + n, request + head, have - head);
                reply(fd, "200 OK", "text/csv", answer, (size_t)n + have - head);
            }
        } else if (!strncmp(request, "GET /execution-parameters ", 26)) {
            char body[256];
            snprintf(body, sizeof body, "{\"MaxConcurrentTransforms\": 2, \"BatchStrategy\": \"MULTI_RECORD\", "
                     "\"MaxPayloadInMB\": 6, \"SAGEMAKER_BATCH\": \"%s\"}", getenv("SAGEMAKER_BATCH") ? getenv("SAGEMAKER_BATCH") : "");
            reply(fd, "200 OK", "application/json", body, strlen(body));
        } else {
            reply(fd, "404 Not Found", "text/plain", "", 0);
        }
        close(fd);
    }
}
