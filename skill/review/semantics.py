"""Facade: the analysis helpers used to live here; they now live in modules named by concept.

- `torch_tables`: torch knowledge as data (names, regexes, tables)
- `scopes`: bindings, aliases, branches, the in-file call graph
- `gradmode`: grad-disabled regions, backward calls
- `devices`: CUDA availability and device guards
- `filekind`: torch code, tests, framework classes, runnable scripts
- `dataflow`: what a name holds (model, loss, optimizer, loader, graph-attached tensor)
- `loops`: training/evaluation loops and mode switches
- `edits`: autofix edit builders
- `project` / `summaries`: the project index and per-function summaries (inter-procedural)

Import from the concept modules in new code; this module re-exports every old name.
"""

from __future__ import annotations

# ruff: noqa: F401
from .analysis import Context, callee_name, dotted, is_true, kwarg_value, receiver, target_names
from .torch_tables import (
    NO_GRAD_CALLS,
    EVAL_FUNC_RE,
    EVAL_DATA_RE,
    FRAMEWORK_EVAL_HOOKS,
    CUDA_STRING_RE,
    DEVICE_GUARD_NAME_RE,
    EXIT_CALLS,
    CUDA_RUNTIME_CALLS,
    MODEL_EVIDENCE_METHODS,
    MODEL_VAR_RE,
    MODEL_NAME_RE,
    LOSS_NAME_RE,
    MODULE_METHODS,
    DETACHING_METHODS,
    KEEP_METHODS,
    KEEP_FUNCS,
    MODEL_FACTORY_RE,
    FRAMEWORK_BASE_RE,
    EVAL_EXTRA_FUNC_RE,
    TEST_CLASS_RE,
    TEST_FILE_RE,
    _BUILTIN_NAMES,
    EVAL_DATA_TOKEN_RE,
    DATAISH_RE,
    MC_DROPOUT_RE,
    NEEDS_GRAD_ATTRS,
    OPTIMIZER_NAME_RE,
    LOADER_RE,
    OTHER_FRAMEWORK_RE,
    TORCH_ECOSYSTEM_RE,
    IO_DATASETS,
    IO_CALL_NAMES,
    IO_CALL_RE,
    TORCH_LOAD,
    TORCH_SAVE,
)
from .scopes import (
    loop_iter_name,
    call_receiver_name,
    module_alias,
    branch_of,
    mutually_exclusive,
    _branch_fact,
    _contradict,
    is_main_guard,
    innermost_loop,
    before,
    last_assignment,
    name_bindings,
    latest_binding,
    resolve_value,
    _cache,
    walk_scope,
    walk_no_defs,
    _assign_index,
    binding_before,
    loop_iter_text,
    local_function,
    call_sites,
    calls_of,
)
from .edits import (
    open_paren_position,
    insert_first_argument,
    append_keyword_argument,
)
from .devices import (
    is_cuda_availability_test,
    is_guarded_by_cuda_check,
    is_cuda_string,
    is_device_guard_test,
    _exits,
    is_device_guarded,
    _catches_device_errors,
    gpu_only_by_design,
    _is_availability_call,
    file_may_use_cuda,
)
from .gradmode import (
    is_grad_disabling_with_item,
    has_grad_disabling_decorator,
    in_no_grad,
    backward_calls,
    maybe_grad_disabled,
)
from .filekind import (
    is_runnable_training_script,
    class_is_framework,
    is_test_function,
    is_torch_code,
    is_other_framework_file,
    is_module_like_class,
)
from .dataflow import (
    model_names,
    is_module_constructor,
    is_model_expr,
    dataloader_calls,
    loader_dataset,
    is_torch_load,
    is_torch_save,
    module_names,
    _local_callable_names,
    model_call_key,
    is_loss_call,
    backward_receiver_names,
    is_graph_attached,
    _first_target,
    _is_detaching,
    _backwarded_after,
    is_optimizer_name,
    dataset_does_io,
    class_does_io,
)
from .loops import (
    training_loops,
    is_training_loop,
    is_eval_function_name,
    sets_training_flag,
    is_eval_data_loop,
    contains_training_step,
    EvalSite,
    _pick_anchor,
    _has_eval_call_before,
    evaluation_sites,
    accumulation_loops,
    training_loop_of,
    mode_calls,
    sets_eval_somewhere,
)
