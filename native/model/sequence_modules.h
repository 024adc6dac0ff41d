// Sequence modules over ragged histories:
//  - SequenceDecoder: LEMUR's multimodal decoder. Global query tokens from the request
//    cross-attend over the memory-bank rows of the history (fused: read from the bank by id).
//  - IdSequenceEncoder: encoders of ID sequences (event = document-ID embedding):
//    LONGER-style (global + most recent queries cross-attend over all events, then
//    self-attend), or a SwiGLU / Transformer stack followed by query decoding.
//  - SequenceLayer: one layer of HyFormer's per-layer sequence re-encoding.
//  - similarity_features: cosine(target, recent events) and its sorted copy.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>

#include "data/batch.h"
#include "model/config.h"
#include "model/layers.h"
#include "model/memory_bank.h"

namespace lemur::model {

// Per-event side info (action type, age) embedded to `width` and added to the events.
struct SideInfoImpl : torch::nn::Module {
  SideInfoImpl(int64_t width, int64_t action_types, bool action, bool age);
  at::Tensor forward(const data::SequenceBatch& seq, const at::Tensor& events);
  torch::nn::Embedding action_emb{nullptr};
  torch::nn::Linear age_proj{nullptr};
};
TORCH_MODULE(SideInfo);

struct SequenceDecoderImpl : torch::nn::Module {
  SequenceDecoderImpl(const DecoderConfig& config, const SequenceConfig& sequence, int64_t context_dim,
                      int64_t bank_dim, int64_t action_types);
  // context [B, C]; the batch's sequence view; the bank (already holding this step's fresh
  // rows when freshness is on). `fresh` (optional, "gradient" freshness): [num_docs] slot of
  // each document encoded this step (-1 otherwise) and the encoded vectors carrying gradient.
  // -> [B, queries, width]
  at::Tensor forward(const at::Tensor& context, const data::SequenceBatch& seq, MemoryBankImpl& bank,
                     const at::Tensor& fresh_slot = {}, const at::Tensor& fresh_vectors = {});
  // The same over given event vectors [T, bank_dim] (history re-encoded instead of read).
  at::Tensor forward_rows(const at::Tensor& context, const data::SequenceBatch& seq, const at::Tensor& rows,
                          const c10::optional<at::Tensor>& mask);
  bool fusable() const { return config.fused && !side_info && !memory_ln; }

  DecoderConfig config;
  torch::nn::Linear query_gen{nullptr};
  torch::nn::ModuleList blocks;
  SideInfo side_info{nullptr};
  torch::nn::LayerNorm memory_ln{nullptr};  // decoder.memoryNorm: rows (+ side info) layer-normalized
};
TORCH_MODULE(SequenceDecoder);

struct IdSequenceEncoderImpl : torch::nn::Module {
  IdSequenceEncoderImpl(const LongerConfig& config, const std::string& mode, int64_t item_dim,
                        int64_t context_dim, const SequenceConfig& sequence, int64_t action_types);
  // items [T, item_dim] (events' ID embeddings), the sequence view (offsets, side info),
  // context [B, C] -> [B, output_tokens(), width]
  at::Tensor forward(const at::Tensor& context, const data::SequenceBatch& seq, const at::Tensor& items);
  int64_t output_tokens() const { return config.global_tokens + 1; }

  LongerConfig config;
  std::string mode;
  torch::nn::Linear item_proj{nullptr}, global_gen{nullptr};
  torch::nn::LayerNorm item_ln{nullptr};
  torch::nn::ModuleList blocks, item_layers;
  AttentionBlock readout{nullptr};
  SideInfo side_info{nullptr};
};
TORCH_MODULE(IdSequenceEncoder);

// A ragged sequence's state between HyFormer layers.
struct SequenceState {
  at::Tensor x;        // [T, width]
  at::Tensor offsets;  // [B+1]
  at::Tensor mask;     // [T] bool, false = an event with nothing known (a bank miss); or undefined
  c10::optional<at::Tensor> key_mask() const { return mask.defined() ? c10::optional<at::Tensor>(mask) : c10::nullopt; }
};

// Mean of each sample's unmasked rows (zeros when none): [T, D] -> [B, D].
at::Tensor masked_mean_pool(const at::Tensor& x, const at::Tensor& offsets, const at::Tensor& mask);

// Memory-bank rows of a history with "gradient" freshness applied: events whose document was
// encoded in this step (fresh_slot[id] >= 0) take the fresh vector, with its gradient, and
// count as present. rows [T, e] and present [T] are updated in place of the bank's.
void apply_fresh_rows(at::Tensor& rows, at::Tensor& present, const at::Tensor& ids, const at::Tensor& fresh_slot,
                      const at::Tensor& fresh_vectors);

struct SequenceLayerImpl : torch::nn::Module {
  // mode: "transformer" | "longer" | "swiglu"; `first`: the LONGER layer that compresses
  // the sequence to its `recent` most recent positions.
  SequenceLayerImpl(const std::string& mode, int64_t width, int64_t heads, int64_t ffn_mult, int64_t recent,
                    bool first);
  SequenceState forward(const SequenceState& s);
  std::string mode;
  int64_t recent;
  bool first;
  AttentionBlock block{nullptr};
  SwiGLU swiglu{nullptr};
  torch::nn::LayerNorm ln{nullptr};
};
TORCH_MODULE(SequenceLayer);

// The similarity features of a sequence (spec 2.4): cosine(target_b, event) for the K most
// recent events of each sample (newest first, 0 for misses and absent positions), then the K
// highest cosines over the whole sequence, descending (0 where it has fewer than K known
// events; the sorted copy of the spec, taken over every event rather than only the K newest).
// `rows` (optional, [T, e]): the events' vectors when they are not read from the bank.
struct SimilarityOutput {
  at::Tensor features;  // [B, 2K]
  at::Tensor top;       // [B, K] int64: the event (row of seq.ids) of each sorted slot, -1 when absent
};
SimilarityOutput similarity_features(const at::Tensor& target, const data::SequenceBatch& seq, MemoryBankImpl& bank,
                                     int64_t k, const at::Tensor& rows = {});

// The similarity features as a module: with the sequence's action side info (e.g. ratings),
// each sorted slot also carries a learned value of its event's action, so the ranker sees
// how the user acted on the events most similar to the candidate (an item-based
// neighbourhood signal). -> [B, 2K] or [B, 3K].
struct SimilarityImpl : torch::nn::Module {
  SimilarityImpl(int64_t k, int64_t action_types, bool action);
  at::Tensor forward(const at::Tensor& target, const data::SequenceBatch& seq, MemoryBankImpl& bank,
                     const at::Tensor& rows = {});
  int64_t features() const { return (action_value.is_empty() ? 2 : 3) * k; }
  int64_t k;
  torch::nn::Embedding action_value{nullptr};
};
TORCH_MODULE(Similarity);

}  // namespace lemur::model
