// Writes llama.cpp's logits for given token ids, for scripts/logits-vs-llamacpp.
//   llamacpp-logits MODEL.gguf IDS.txt OUT.f32 THREADS
// IDS.txt: comma-separated token ids (one sequence, no BOS added). OUT.f32: [n_tokens x n_vocab]
// float32, little-endian, one row per position. The context is set up to compute what capmoe does:
// F32 K/V cache (the default F16 cache rounds K and V), no flash attention, the whole sequence
// in one batch.
#include "llama.h"
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
