"""Every built-in rule, in code order. A rule is added by writing its module and listing it here."""

from ml_lsp_rules.data import da001_fit_on_eval_split, da002_train_loader_not_shuffled, da003_unsafe_torch_load
from ml_lsp_rules.keras import (
    kr001_layer_input_shape, kr002_input_shape_vs_data, kr003_softmax_from_logits, kr004_label_encoding,
    kr005_validation_on_test_set, kr006_refit_called_finetune, kr007_pretrained_base_not_frozen,
    kr008_trainable_without_recompile, kr009_sequential_given_tensor, kr010_fit_without_labels,
    kr011_pretrained_weights_download,
)
from ml_lsp_rules.shape import (
    sh001_linear_in_features, sh002_conv_in_channels, sh003_norm_features, sh004_rnn_input_size,
    sh005_mha_embed_dim, sh006_embedding_input, sh007_view_numel, sh008_view_multiple_minus_one,
    sh009_matmul_inner_dims, sh010_einsum_dims, sh011_cat_dims, sh012_dim_out_of_range,
    sh013_broadcast_mismatch, sh014_permute_dims, sh015_spatial_size_nonpositive,
    sh016_cross_entropy_shapes, sh017_loss_broadcast, sh018_input_rank, sh019_view_non_contiguous,
    sh020_constructor_assert,
    sh099_shape_mismatch,
)
from ml_lsp_rules.training import (
    tr001_missing_zero_grad, tr002_step_without_backward, tr003_scheduler_before_optimizer,
    tr004_loss_accumulated_with_graph, tr005_eval_without_no_grad, tr006_eval_without_model_eval,
    tr007_train_mode_not_restored, tr008_softmax_before_cross_entropy,
    tr009_sigmoid_before_bce_with_logits, tr010_name_used_before_defined,
    tr011_batch_not_on_model_device, tr012_backward_without_grad,
    tr013_seed_after_model, tr014_accumulation_divisor,
    tr015_early_return_skips_train, tr016_optimizer_state_before_move,
    tr017_batch_norm_last_batch_of_one, tr018_class_target_encoding,
)

RULES = [m.RULE for m in (
    sh001_linear_in_features, sh002_conv_in_channels, sh003_norm_features, sh004_rnn_input_size,
    sh005_mha_embed_dim, sh006_embedding_input, sh007_view_numel, sh008_view_multiple_minus_one,
    sh009_matmul_inner_dims, sh010_einsum_dims, sh011_cat_dims, sh012_dim_out_of_range,
    sh013_broadcast_mismatch, sh014_permute_dims, sh015_spatial_size_nonpositive,
    sh016_cross_entropy_shapes, sh017_loss_broadcast, sh018_input_rank, sh019_view_non_contiguous,
    sh020_constructor_assert,
    sh099_shape_mismatch,
    tr001_missing_zero_grad, tr002_step_without_backward, tr003_scheduler_before_optimizer,
    tr004_loss_accumulated_with_graph, tr005_eval_without_no_grad, tr006_eval_without_model_eval,
    tr007_train_mode_not_restored, tr008_softmax_before_cross_entropy,
    tr009_sigmoid_before_bce_with_logits, tr010_name_used_before_defined,
    tr011_batch_not_on_model_device, tr012_backward_without_grad,
    tr013_seed_after_model, tr014_accumulation_divisor,
    tr015_early_return_skips_train, tr016_optimizer_state_before_move,
    tr017_batch_norm_last_batch_of_one, tr018_class_target_encoding,
    da001_fit_on_eval_split, da002_train_loader_not_shuffled, da003_unsafe_torch_load,
    kr001_layer_input_shape, kr002_input_shape_vs_data, kr003_softmax_from_logits, kr004_label_encoding,
    kr005_validation_on_test_set, kr006_refit_called_finetune, kr007_pretrained_base_not_frozen,
    kr008_trainable_without_recompile, kr009_sequential_given_tensor, kr010_fit_without_labels,
    kr011_pretrained_weights_download,
)]


def shape_kinds_with_rules() -> frozenset[str]:
    return frozenset(k for r in RULES for k in r.conflict_kinds)
