/* A training algorithm for the training-profile tests. It insists on `train` as its last argument,
 * as SageMaker runs it, then by its mode:
 *   ok       copies the three config files and the channel listing into /opt/ml/model, exits 0
 *   no-model trains, saves nothing under /opt/ml/model, exits 0
 *   fail     writes 2,000 characters to /opt/ml/output/failure ("bad label 0 ... "), exits 2
 *   sleep    handles SIGTERM (prints and exits 0) and otherwise runs for 10 minutes
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>

static void copy(const char *from, const char *to) {
    FILE *in = fopen(from, "r"), *out = fopen(to, "w");
    char buffer[4096];
    size_t n;
    if (!in || !out) {
        fprintf(stderr, "cannot copy %s\n", from);
        exit(5);
    }
    while ((n = fread(buffer, 1, sizeof buffer, in)) > 0)
        fwrite(buffer, 1, n, out);
    fclose(in);
    fclose(out);
}

static void on_term(int signum) { (void)signum; puts("SIGTERM: saving a checkpoint and stopping"); fflush(stdout); _exit(0); }

int main(int argc, char **argv) {
    const char *mode = "ok";
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--mode=", 7))
            mode = argv[i] + 7;
    if (argc < 2 || strcmp(argv[argc - 1], "train") != 0) {
        fprintf(stderr, "usage: trainer [--mode=M] train\n");
        return 9;
    }
    puts("training");
    fflush(stdout);
    if (!strcmp(mode, "sleep")) {
        signal(SIGTERM, on_term);
        sleep(600);
        return 0;
    }
    if (!strcmp(mode, "fail")) {
        FILE *out = fopen("/opt/ml/output/failure", "w");
        for (int i = 0; i < 200; i++)
            fprintf(out, "bad label %d ", i % 10); /* 12 characters each: 2,400 in all */
        fclose(out);
        fputs("error: bad labels\n", stderr);
        return 2;
    }
    if (!strcmp(mode, "no-model"))
        return 0;
    copy("/opt/ml/input/config/hyperparameters.json", "/opt/ml/model/hyperparameters.json");
    copy("/opt/ml/input/config/inputdataconfig.json", "/opt/ml/model/inputdataconfig.json");
    copy("/opt/ml/input/config/resourceconfig.json", "/opt/ml/model/resourceconfig.json");
    FILE *listing = fopen("/opt/ml/model/channel-train.txt", "w");
    DIR *folder = opendir("/opt/ml/input/data/train");
    for (struct dirent *entry; folder && (entry = readdir(folder));)
        if (entry->d_name[0] != '.')
            fprintf(listing, "%s\n", entry->d_name);
    fclose(listing);
    return 0;
}
