// Writes llama.cpp's logits for given token ids, for scripts/logits-vs-llamacpp.
//   llamacpp-logits MODEL.gguf IDS.txt OUT.f32 THREADS
// IDS.txt: comma-separated token ids (one sequence, no BOS added). OUT.f32: [n_tokens x n_vocab]
// float32, little-endian, one row per position. The context is set up to compute what capmoe does:
// F32 K/V cache (the default F16 cache rounds K and V), no flash attention, the whole sequence
// in one batch.
//
// DUMP=DIR (optional) also writes the graph's intermediate tensors as llama.cpp computes them, through
// the scheduler's eval callback (cb_eval, as the snapshot's examples/eval-callback and common/debug.cpp
// use it): every node whose name ends in "-LAYER" (DUMP_LAYERS, comma-separated layer numbers, default
// 0) or has no layer suffix (inp_embd, result_norm, result_output, ...), and each such node's sources
// (weights, positions, the KQ mask, ...) the first time they are seen. DIR/index.tsv has one line per
// tensor: file, name, op (ggml_op_desc), type, ne0..ne3, nb0..nb3 (bytes), op_params[0..3] as int32,
// and the files of src0..src2 ("-" when none or not dumped); DIR/NNNN.bin holds ggml_nbytes(t) raw
// bytes from the tensor's first element (views keep their strides: read with nb). Observing a node
// makes the scheduler compute it in its own split; the logits written are compared with a run
// without DUMP by scripts/ops-vs-ggml (the CPU backend's results must not depend on it).
#include "ggml.h"
#include "ggml-backend.h"
#include "llama.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

struct Dump {
    std::string dir;
    std::set<int> layers;
    FILE * index = nullptr;
    int next = 0;
    std::unordered_map<const ggml_tensor *, std::string> files;   // tensor -> its file, per graph

    // The layer a node belongs to, from llama.cpp's "name-IL" naming; -1 when the name has no suffix.
    // (A view's name carries suffixes: "Qcur_normed-0 (reshaped)".)
    static int layer_of(const char * name) {
        std::string base(name);
        base = base.substr(0, base.find(' '));
        size_t dash = base.rfind('-');
        if (dash == std::string::npos || dash + 1 == base.size()) return -1;
        for (size_t i = dash + 1; i < base.size(); i++) if (base[i] < '0' || base[i] > '9') return -1;
        return std::atoi(base.c_str() + dash + 1);
    }

    bool wanted(const ggml_tensor * t) const {
        if (!t->name[0]) return false;
        int il = layer_of(t->name);
        return il < 0 || layers.count(il) > 0;
    }

    std::string write(const ggml_tensor * t) {
        auto it = files.find(t);
        if (it != files.end()) return it->second;
        char file[32];
        std::snprintf(file, sizeof(file), "%04d.bin", next++);
        std::vector<uint8_t> bytes(ggml_nbytes(t));
        ggml_backend_tensor_get(t, bytes.data(), 0, bytes.size());
        std::string path = dir + "/" + file;
        FILE * f = std::fopen(path.c_str(), "wb");
        if (!f) { std::fprintf(stderr, "cannot write %s\n", path.c_str()); std::exit(1); }
        std::fwrite(bytes.data(), 1, bytes.size(), f);
        std::fclose(f);
        std::string srcs[3] = {"-", "-", "-"};
        for (int i = 0; i < 3; i++) if (t->src[i]) { auto s = files.find(t->src[i]); if (s != files.end()) srcs[i] = s->second; }
        std::fprintf(index, "%s\t%s\t%s\t%s\t%lld\t%lld\t%lld\t%lld\t%zu\t%zu\t%zu\t%zu\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n",
                     file, t->name[0] ? t->name : "(unnamed)", ggml_op_desc(t), ggml_type_name(t->type),
                     (long long) t->ne[0], (long long) t->ne[1], (long long) t->ne[2], (long long) t->ne[3],
                     t->nb[0], t->nb[1], t->nb[2], t->nb[3],
                     t->op_params[0], t->op_params[1], t->op_params[2], t->op_params[3],
                     srcs[0].c_str(), srcs[1].c_str(), srcs[2].c_str());
        files[t] = file;
        return file;
    }
};

// The eval callback: asked first whether a node is wanted, then called with it computed.
bool dump_cb(ggml_tensor * t, bool ask, void * user) {
    auto * d = (Dump *) user;
    if (ask) return d->wanted(t);
    if (d->wanted(t)) {
        for (int i = 0; i < 3; i++) if (t->src[i]) d->write(t->src[i]);
        d->write(t);
    }
    return true;
}

}  // namespace

int main(int argc, char ** argv) {
    if (argc != 5) { std::fprintf(stderr, "usage: %s MODEL.gguf IDS.txt OUT.f32 THREADS\n", argv[0]); return 2; }
    std::ifstream in(argv[2]);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<llama_token> ids;
    std::stringstream ss(text);
    for (std::string tok; std::getline(ss, tok, ',');) if (!tok.empty() && tok != "\n") ids.push_back(std::atoi(tok.c_str()));
    if (ids.empty()) { std::fprintf(stderr, "no token ids in %s\n", argv[2]); return 2; }
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) { std::fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = cp.n_batch = cp.n_ubatch = (uint32_t) ids.size();
    cp.n_threads = cp.n_threads_batch = std::atoi(argv[4]);
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.no_perf = true;
    Dump dump;
    if (const char * dir = std::getenv("DUMP")) {
        dump.dir = dir;
        std::string layers = std::getenv("DUMP_LAYERS") ? std::getenv("DUMP_LAYERS") : "0";
        std::stringstream ls(layers);
        for (std::string l; std::getline(ls, l, ',');) if (!l.empty()) dump.layers.insert(std::atoi(l.c_str()));
        std::string index = dump.dir + "/index.tsv";
        dump.index = std::fopen(index.c_str(), "w");
        if (!dump.index) { std::fprintf(stderr, "cannot write %s\n", index.c_str()); return 1; }
        cp.cb_eval = dump_cb;
        cp.cb_eval_user_data = &dump;
    }
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) { std::fprintf(stderr, "cannot create a context\n"); return 1; }
    llama_batch batch = llama_batch_init((int32_t) ids.size(), 0, 1);
    for (size_t i = 0; i < ids.size(); i++) {
        batch.token[i] = ids[i]; batch.pos[i] = (llama_pos) i; batch.n_seq_id[i] = 1; batch.seq_id[i][0] = 0; batch.logits[i] = 1;
    }
    batch.n_tokens = (int32_t) ids.size();
    if (llama_decode(ctx, batch) != 0) { std::fprintf(stderr, "llama_decode failed\n"); return 1; }
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    std::string tmp = std::string(argv[3]) + ".tmp";
    FILE * out = std::fopen(tmp.c_str(), "wb");
    if (!out) { std::fprintf(stderr, "cannot write %s\n", tmp.c_str()); return 1; }
    for (size_t i = 0; i < ids.size(); i++) std::fwrite(llama_get_logits_ith(ctx, (int32_t) i), sizeof(float), n_vocab, out);
    std::fclose(out);
    std::rename(tmp.c_str(), argv[3]);
    std::fprintf(stderr, "wrote %s: %zu positions x %d logits\n", argv[3], ids.size(), n_vocab);
    if (dump.index) std::fclose(dump.index);
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
