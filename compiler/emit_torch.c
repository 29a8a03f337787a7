/* emit_torch.c - `advcc --torch`: the model as a PyTorch module,
 * generated/<model>.py, from the IR alone.  The module has the same layers
 * and tensor names as the generated C (conv1.weight, bn1.running_mean,
 * dtrelu1.lo, ...), so an advcc checkpoint loads into it and its state dict
 * loads into the binary; normalisation is a layer (attacks work on pixels),
 * fake-quantised weights and DTReLU have the C code's straight-through
 * gradients and its rounding (ties away from zero), noise layers and the
 * ensemble are modules.  The layers themselves are compiler/torch_prelude.py,
 * copied into every module so that it stands alone (PyTorch and numpy are
 * all it needs).  Regularisers are training terms and are not modelled. */
#include <string.h>
#include "describe.h"
#include "emit.h"
#include "kind.h"
#include "vocab.h"

#define L(...) emit_line(out, __VA_ARGS__)

/* compiler/torch_prelude.py, embedded by the build (compiler.mk). */
extern const char advcc_torch_prelude[];

/* A comment citing the spec line of a node. */
static void cite(FILE *out, int indent, const ir_node *n)
{
    const char *text = n->loc.text ? n->loc.text : "";
    while (*text == ' ' || *text == '\t')
        text++;
    L(indent, "# %s: %s:%d:%d: %.160s", n->name, n->loc.file ? n->loc.file : "?",
      n->loc.line, n->loc.col, text);
}

/* Node names that a Python attribute cannot take as they are. */
static int reserved(const char *name)
{
    static const char *const words[] = {
        "False", "None", "True", "and", "as", "assert", "async", "await", "break",
        "class", "continue", "def", "del", "elif", "else", "except", "finally", "for",
        "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or",
        "pass", "raise", "return", "try", "while", "with", "yield", "training",
        "forward", "forward_pass", "passes", "average_probs", "eval", "train", "float",
        "double", "half", "to", "cuda", "cpu", "type", "apply", "modules", "children",
        "parameters", "buffers", "state_dict", "load_state_dict", "set_noise", "noisy",
        "checkpoint_names", "load_checkpoint", "save_checkpoint", "dump_patches",
        "call_super_init", "zero_grad", "requires_grad_", "share_memory",
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(name, words[i]) == 0)
            return 1;
    return name[0] == '_';
}

static void attr(const ir_node *n, char *buf, size_t len)
{
    if (reserved(n->name))
        snprintf(buf, len, "self._modules[\"%s\"]", n->name);
    else
        snprintf(buf, len, "self.%s", n->name);
}

static const char *qrange_name(ir_qrange r)
{
    return r == IR_QRANGE_FIXED ? "fixed" : r == IR_QRANGE_CHANNEL ? "channel" : "minmax";
}

/* The constructor expression of node n. */
static int layer_expr(const ir_node *n, char *buf, size_t len)
{
    char a[32], b[32], q[160] = "";
    const layer_kind *k = kind_of(n->op);
    if ((k->flags & KIND_WEIGHTED) && n->wquant.bits > 0)
        snprintf(q, sizeof q, ", bits=%d, qrange=\"%s\", qlo=%s, qhi=%s", n->wquant.bits,
                 qrange_name(n->wquant.range), emit_real(n->wquant.lo, a, sizeof a),
                 emit_real(n->wquant.hi, b, sizeof b));
    return k->torch ? k->torch(n, q, buf, len) : -1;
}

/* TRAIN: the spec's training recipe, for make_optimizer, make_scheduler and
 * augment of the prelude. */
static void emit_train_dict(FILE *out, const ir_train *t)
{
    const ir_schedule *s = &t->schedule;
    char a[32], b[32], c[32], d[32], at[IR_SCHEDULE_POINTS * 34], f[IR_SCHEDULE_POINTS * 34];
    L(0, "# The spec's training recipe (make_optimizer, make_scheduler, augment).");
    L(0, "TRAIN = {\"optimizer\": \"%s\", \"lr\": %s, \"momentum\": %s, \"nesterov\": %d,",
      advcc_optimizer_name(t->optimizer), emit_real(t->lr, a, sizeof a),
      emit_real(t->momentum, b, sizeof b), t->nesterov);
    L(1, "\"beta1\": %s, \"beta2\": %s, \"eps\": %s, \"weight_decay\": %s,",
      emit_real(t->beta1, a, sizeof a), emit_real(t->beta2, b, sizeof b),
      emit_real(t->eps, c, sizeof c), emit_real(t->weight_decay, d, sizeof d));
    L(1, "\"batch\": %d, \"epochs\": %d, \"adversarial\": %d, \"crop\": %d, \"flip\": %d,",
      t->batch, t->epochs, t->adversarial, t->crop, t->flip);
    emit_reals(s->at, s->n, at, sizeof at);
    emit_reals(s->factor, s->kind == ADVCC_SCHED_PIECEWISE ? s->n : 0, f, sizeof f);
    L(1, "\"schedule\": {\"kind\": \"%s\", \"warmup\": %d, \"at\": [%s], \"factor\": [%s],",
      advcc_schedule_name(s->kind), s->warmup, at, f);
    L(2, "\"gamma\": %s, \"min_lr\": %s, \"pct\": %s, \"div\": %s, \"final_div\": %s}}",
      emit_real(s->gamma, a, sizeof a), emit_real(s->min_lr, b, sizeof b),
      emit_real(s->pct, c, sizeof c), emit_real(s->div, d, sizeof d),
      emit_real(s->final_div, at, sizeof at));
}

/* The name of the value of node i (-1: the input) where a later node
 * reads it again: "x" is always the last node's. */
static void keep_name(const ir_model *m, int i, char *buf, size_t len)
{
    snprintf(buf, len, "%s_out", i >= 0 ? m->nodes[i].name : "input");
}

/* forward_pass's body: x through the nodes in order; a value a residual
 * block reads again (its input, a shortcut's end) is kept by name. */
static void emit_torch_flow(FILE *out, const ir_model *m)
{
    char kept[64];
    for (int i = -1; i < m->n_nodes; i++) {
        int again = 0;
        for (int j = i + 2; j < m->n_nodes; j++)
            again |= m->nodes[j].src == i;
        for (int j = i + 1; j < m->n_nodes; j++)
            again |= m->nodes[j].op == IR_ADD && m->nodes[j].src2 == i;
        if (i >= 0) {
            const ir_node *n = &m->nodes[i];
            char a[64], in[64] = "x", call[200];
            attr(n, a, sizeof a);
            if (n->src != i - 1)
                keep_name(m, n->src, in, sizeof in);
            if (n->op == IR_ADD) {
                keep_name(m, n->src2, kept, sizeof kept);
                snprintf(call, sizeof call, "x = %s(%s, %s)", a, in, kept);
            } else {
                snprintf(call, sizeof call, "x = %s(%s)", a, in);
            }
            int pad = 34 - (int)strlen(call);
            L(2, "%s%*s# %s", call, pad > 1 ? pad : 1, "", ir_op_name(n->op));
        }
        if (again) {
            keep_name(m, i, kept, sizeof kept);
            L(2, "%s = x", kept);
        }
    }
}

int emit_model_torch(const ir_model *m, FILE *out)
{
    describe_kv kv[DESCRIBE_MAX];
    int nkv = describe_model(m, kv);
    char s1[2200], s2[2200], e1[32], e2[32];

    L(0, "\"\"\"%s.py - the model `%s` as a PyTorch module, generated by advcc", m->name, m->name);
    L(0, "(advcc --torch) from %s.  Do not edit: change the spec and run advcc again.", m->source);
    L(0, "%s", "");
    L(0, "    import %s", m->name);
    L(0, "    net = %s.load(\"out/%s-seed0/checkpoint.safetensors\")   # evaluation mode", m->name, m->name);
    L(0, "    logits = net(x)         # x: [n][%d][%d][%d] pixels in [0, 1]", m->input.c,
      m->input.h, m->input.w);
    L(0, "%s", "");
    L(0, "Tensor names are advcc's, so the module's state_dict() is an advcc");
    L(0, "checkpoint's contents: net.save_checkpoint(path) writes one that");
    L(0, "`%s eval --checkpoint path` reads.  Noise layers draw from torch's", m->name);
    L(0, "generator (net.set_noise(False) turns them off); the %d-pass ensemble",
      m->ensemble > 1 ? m->ensemble : 1);
    L(0, "averages in forward().  Regularisers are training terms of advcc's and");
    L(0, "are not part of this module.");
    L(0, "%s", "");
    for (int i = 0; i < nkv; i++)
        L(0, "%-13s %s", kv[i].key, kv[i].value);
    L(0, "\"\"\"");
    fputs(advcc_torch_prelude, out);
    L(0, "%s", "");
    L(0, "%s", "");
    L(0, "# ---- the model %s ----", m->name);
    L(0, "MODEL_NAME = %s", emit_c_string(m->name, s1, sizeof s1));
    L(0, "SPEC = %s", emit_c_string(m->source ? m->source : "?", s1, sizeof s1));
    L(0, "INPUT_SHAPE = (%d, %d, %d)", m->input.c, m->input.h, m->input.w);
    L(0, "CLASSES = %d", m->classes);
    L(0, "# What the model is (the metadata of its advcc checkpoints).");
    L(0, "DESCRIPTION = {");
    for (int i = 0; i < nkv; i++)
        L(1, "%s: %s,", emit_c_string(kv[i].key, s1, sizeof s1), emit_c_string(kv[i].value, s2, sizeof s2));
    L(0, "}");
    L(0, "# The spec's evaluation attack, in pixel units.");
    L(0, "ATTACK = {\"eps\": %s, \"alpha\": %s, \"steps\": %d, \"restarts\": %d, \"init\": \"%s\",",
      emit_real(m->attack.eps, e1, sizeof e1), emit_real(m->attack.alpha, e2, sizeof e2),
      m->attack.steps, m->attack.restarts, advcc_init_name(m->attack.init));
    L(1, "\"norm\": \"%s\", \"eot\": %d}", advcc_norm_name(m->attack.norm), m->attack.eot);
    emit_train_dict(out, &m->train);
    L(0, "%s", "");
    L(0, "%s", "");
    L(0, "class Model(AdvccModule):");
    L(1, "\"\"\"%s: input %dx%dx%d, %d classes (%s).\"\"\"", m->name, m->input.c, m->input.h,
      m->input.w, m->classes, m->source);
    L(1, "passes = %d", m->ensemble > 1 ? m->ensemble : 1);
    L(1, "average_probs = %s", m->ensemble_probs ? "True" : "False");
    L(0, "%s", "");
    L(1, "def __init__(self):");
    L(2, "super().__init__()");
    for (int i = 0; i < m->n_nodes; i++) {
        const ir_node *n = &m->nodes[i];
        char expr[1200], a[64];
        cite(out, 2, n);
        if (layer_expr(n, expr, sizeof expr) != 0) {
            L(2, "raise NotImplementedError(\"advcc --torch: layer %s: kind %s has no PyTorch "
                 "form\")", n->name, ir_op_name(n->op));
            continue;
        }
        if (reserved(n->name))
            L(2, "self.add_module(\"%s\", %s)", n->name, expr);
        else {
            attr(n, a, sizeof a);
            L(2, "%s = %s", a, expr);
        }
    }
    L(0, "%s", "");
    L(1, "def forward_pass(self, x):");
    L(2, "\"\"\"One pass: pixels [n][%d][%d][%d] in [0, 1] to logits [n][%d].\"\"\"",
      m->input.c, m->input.h, m->input.w, m->classes);
    emit_torch_flow(out, m);
    L(2, "return x");
    L(0, "%s", "");
    L(0, "%s", "");
    L(0, "def build():");
    L(1, "\"\"\"The model with PyTorch's default initialisation (in training mode).\"\"\"");
    L(1, "return Model()");
    L(0, "%s", "");
    L(0, "%s", "");
    L(0, "def load(path):");
    L(1, "\"\"\"The model with the weights of an advcc checkpoint, in evaluation mode.\"\"\"");
    L(1, "net = Model()");
    L(1, "net.load_checkpoint(path)");
    L(1, "return net.eval()");
    return ferror(out) ? -1 : 0;
}
