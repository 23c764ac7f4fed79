/* Inner loops of the CMSIS-NN (CMSIS_5, mid-2020) s8 kernels that TFLM 2.3.1's cmsis-nn
 * kernels call for the MLPerf Tiny KWS DS-CNN on a Cortex-M4 (ARM_MATH_DSP path), written
 * after the CMSIS-NN sources so GCC compiles them the way it compiles the library.
 * Each timed region sits between "@ MCA-BEGIN name" / "@ MCA-END name" markers; cycles.py
 * widens each region to its enclosing loop (label .. backward branch) and times it with
 * llvm-mca -mcpu=cortex-m4. Only the timing matters: the functions are never run. */
#include <stdint.h>
#define memcpy __builtin_memcpy
#define memset __builtin_memset

typedef int8_t q7_t;
typedef int16_t q15_t;
typedef int32_t q31_t;

#define MARK(s) __asm volatile("@ MCA-" s ::: "memory")
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))

static inline q31_t SXTB16(q31_t x) { q31_t r; __asm volatile("sxtb16 %0, %1" : "=r"(r) : "r"(x)); return r; }
static inline q31_t SXTB16_ROR8(q31_t x) { q31_t r; __asm volatile("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x)); return r; }
static inline q31_t SMLAD(q31_t a, q31_t b, q31_t c) { q31_t r; __asm volatile("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c)); return r; }
static inline q31_t SADD16(q31_t a, q31_t b) { q31_t r; __asm volatile("sadd16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b)); return r; }
static inline q31_t PKHBT(q31_t a, q31_t b, int s) { return (q31_t)(((uint32_t)a & 0xFFFFu) | (((uint32_t)b << s) & 0xFFFF0000u)); }
static inline q31_t PKHTB(q31_t a, q31_t b, int s) { return (q31_t)(((uint32_t)a & 0xFFFF0000u) | (((uint32_t)b >> s) & 0xFFFFu)); }
static inline q31_t ror8(q31_t x) { return (q31_t)(((uint32_t)x >> 8) | ((uint32_t)x << 24)); }
static inline q31_t rd4(const void *p) { q31_t v; memcpy(&v, p, 4); return v; }
static inline q31_t rd4_ia(const q7_t **p) { q31_t v; memcpy(&v, *p, 4); *p += 4; return v; }
static inline q31_t rd2x_ia(const q15_t **p) { q31_t v; memcpy(&v, *p, 4); *p += 2; return v; }
static inline void wr2x_ia(q15_t **p, q31_t v) { memcpy(*p, &v, 4); *p += 2; }

/* CMSIS-NN arm_nn_requantize (2020): SaturatingRoundingDoublingHighMul + RoundingDivideByPOT. */
static inline q31_t doubling_high_mult(q31_t m1, q31_t m2) {
    q31_t result = 0;
    int64_t mult = 1 << 30;
    if ((m1 < 0) ^ (m2 < 0)) mult = 1 - mult;
    mult = mult + (int64_t)m1 * m2;
    result = (int32_t)(mult / (1ll << 31));
    if ((m1 == m2) && (m1 == (int32_t)0x80000000)) result = 0x7FFFFFFF;
    return result;
}
static inline q31_t divide_by_pow2(q31_t dividend, int exponent) {
    q31_t result = 0;
    const q31_t remainder_mask = (1 << exponent) - 1;
    int32_t remainder = remainder_mask & dividend;
    result = dividend >> exponent;
    q31_t threshold = remainder_mask >> 1;
    if (result < 0) threshold++;
    if (remainder > threshold) result++;
    return result;
}
#define LEFT_SHIFT(s) ((s) > 0 ? (s) : 0)
#define RIGHT_SHIFT(s) ((s) > 0 ? 0 : -(s))
static inline q31_t requantize(q31_t val, q31_t mult, q31_t shift) {
    return divide_by_pow2(doubling_high_mult(val * (1 << LEFT_SHIFT(shift)), mult), RIGHT_SHIFT(shift));
}

/* arm_nn_mat_mult_nt_t_s8, ARM_MATH_DSP path (pointwise 1x1 via arm_convolve_1x1_s8_fast):
 * 2 lhs rows (positions) x 2 rhs rows (output channels), 16 columns per iteration = 64 MACs. */
void pointwise(const q7_t *lhs, const q7_t *rhs, const q31_t *bias, q7_t *dst, const int32_t *mults,
               const int32_t *shifts, int32_t lhs_rows, int32_t rhs_rows, int32_t rhs_cols,
               int32_t lhs_offset, int32_t dst_offset, int32_t act_min, int32_t act_max) {
    const int32_t off0 = rhs_cols - 4;
    for (int32_t r = 0; r <= rhs_rows - 2; r += 2) {
        const q7_t *lhs_ptr = lhs;
        q7_t *dst_ptr = dst;
        q31_t c0 = 0, c1 = 0;
        for (int32_t x = 0; x < rhs_cols; ++x) {
            MARK("BEGIN pw_offset_sum");
            c0 += rhs[x];
            c1 += rhs[x + rhs_cols];
            MARK("END pw_offset_sum");
        }
        c0 = c0 * lhs_offset + bias[r];
        c1 = c1 * lhs_offset + bias[r + 1];
        for (int32_t li = lhs_rows >> 1; li; li--) {
            MARK("BEGIN pw_block");
            const q7_t *rhs_ptr = rhs;
            q31_t res00 = c0, res01 = c1, res10 = c0, res11 = c1;
            q31_t val0, val1, val2, val3, val4, val5;
            for (int32_t ci = 0; ci <= rhs_cols - 16; ci += 16) {
                MARK("BEGIN pw_mac");
#define PW_STEP                                                                         \
    val1 = rd4_ia(&rhs_ptr); val2 = SXTB16(val1); val0 = rd4_ia(&lhs_ptr);              \
    val3 = SXTB16(val0); val4 = rd4(&rhs_ptr[off0]); val1 = SXTB16_ROR8(val1);          \
    val0 = SXTB16_ROR8(val0); res00 = SMLAD(val3, val2, res00); val5 = SXTB16(val4);    \
    res00 = SMLAD(val0, val1, res00); val4 = SXTB16_ROR8(val4);                         \
    res01 = SMLAD(val3, val5, res01); res01 = SMLAD(val0, val4, res01);                 \
    val0 = rd4(&lhs_ptr[off0]); val3 = SXTB16(val0); val0 = SXTB16_ROR8(val0);          \
    res10 = SMLAD(val3, val2, res10); res11 = SMLAD(val3, val5, res11);                 \
    res10 = SMLAD(val0, val1, res10); res11 = SMLAD(val0, val4, res11);
                PW_STEP PW_STEP PW_STEP PW_STEP
                MARK("END pw_mac");
            }
            res00 = requantize(res00, mults[r], shifts[r]);
            res01 = requantize(res01, mults[r + 1], shifts[r + 1]);
            res10 = requantize(res10, mults[r], shifts[r]);
            res11 = requantize(res11, mults[r + 1], shifts[r + 1]);
            res00 += dst_offset; res01 += dst_offset; res10 += dst_offset; res11 += dst_offset;
            res00 = MIN(MAX(res00, act_min), act_max);
            res01 = MIN(MAX(res01, act_min), act_max);
            res10 = MIN(MAX(res10, act_min), act_max);
            res11 = MIN(MAX(res11, act_min), act_max);
            dst_ptr[0] = (q7_t)res00; dst_ptr[1] = (q7_t)res01; dst_ptr += rhs_rows;
            dst_ptr[0] = (q7_t)res10; dst_ptr[1] = (q7_t)res11; dst_ptr += rhs_rows;
            lhs_ptr += rhs_cols;
            MARK("END pw_block");
        }
        rhs += 2 * rhs_cols;
        dst += 2;
    }
}

/* arm_q7_to_q15_with_offset (2020), DSP path: 4 int8 -> 4 int16 (+offset) per iteration. */
void q7_to_q15_with_offset(const q7_t *src, q15_t *dst, uint32_t block_size, q15_t offset) {
    const q31_t offset_q15x2 = (q31_t)((uint32_t)(uint16_t)offset << 16 | (uint16_t)offset);
    uint32_t block_cnt = block_size >> 2;
    while (block_cnt > 0) {
        MARK("BEGIN im2col4");
        q31_t in = rd4_ia(&src);
        q31_t in_q15x2_1 = SADD16(offset_q15x2, SXTB16(ror8(in)));
        q31_t in_q15x2_2 = SADD16(offset_q15x2, SXTB16(in));
        q31_t out_q15x2_2 = PKHTB(in_q15x2_1, in_q15x2_2, 16);
        q31_t out_q15x2_1 = PKHBT(in_q15x2_2, in_q15x2_1, 16);
        wr2x_ia(&dst, out_q15x2_1);
        wr2x_ia(&dst, out_q15x2_2);
        block_cnt--;
        MARK("END im2col4");
    }
    block_cnt = block_size & 0x3;
    while (block_cnt > 0) {
        *dst++ = (q15_t)(*src++ + offset);
        block_cnt--;
    }
}

/* arm_depthwise_conv_s8_opt, ARM_MATH_DSP path: 4 channels x 2 kernel taps = 8 MACs per
 * iteration over a q15 im2col column of the output pixel; the odd tap scalar. */
void depthwise_core(const q15_t *col_buffer_start, const q7_t *kernel, const int32_t *bias,
                    q7_t *output, const int32_t *output_mult, const int32_t *output_shift,
                    uint16_t output_ch, uint16_t input_ch, uint16_t kernel_x, uint16_t kernel_y,
                    int32_t output_offset, int32_t act_min, int32_t act_max) {
    uint16_t row_count = output_ch / 4;
    uint16_t row_shift = 0;
    while (row_count) {
        MARK("BEGIN dw_group");
        q31_t sum = *bias++, sum_2 = *bias++, sum_3 = *bias++, sum_4 = *bias++;
        uint16_t col_count = (kernel_x * kernel_y) / 2;
        const q15_t *col_pos = col_buffer_start + row_shift;
        const q7_t *row_pos = kernel + row_shift;
        row_shift += 4;
        while (col_count) {
            MARK("BEGIN dw_mac");
            q31_t ip_a1, ip_a2, ip_b1, ip_b2, op_a, op_b, op_c;
            ip_b1 = rd4(row_pos);
            ip_a1 = rd4(row_pos + input_ch);
            op_a = rd4(col_pos);
            op_b = rd4(col_pos + input_ch);
            ip_a2 = SXTB16(ip_b1);
            ip_b1 = SXTB16(ror8(ip_b1));
            ip_b2 = SXTB16(ip_a1);
            ip_a1 = SXTB16(ror8(ip_a1));
            op_c = PKHBT(op_b, op_a, 16);
            op_a = PKHTB(op_b, op_a, 16);
            op_b = PKHBT(ip_b2, ip_a2, 16);
            sum = SMLAD(op_c, op_b, sum);
            op_b = PKHBT(ip_b1, ip_a1, 16);
            sum_2 = SMLAD(op_a, op_b, sum_2);
            op_a = rd4(col_pos + 2);
            op_b = rd4(col_pos + input_ch + 2);
            op_c = PKHBT(op_b, op_a, 16);
            op_a = PKHTB(op_b, op_a, 16);
            op_b = PKHTB(ip_a2, ip_b2, 16);
            sum_3 = SMLAD(op_c, op_b, sum_3);
            op_b = PKHTB(ip_a1, ip_b1, 16);
            sum_4 = SMLAD(op_a, op_b, sum_4);
            row_pos += input_ch << 1;
            col_pos += input_ch << 1;
            col_count--;
            MARK("END dw_mac");
        }
        col_count = (kernel_x * kernel_y) & 0x1;
        while (col_count) {
            MARK("BEGIN dw_tail");
            sum += row_pos[0] * col_pos[0];
            sum_2 += row_pos[1] * col_pos[1];
            sum_3 += row_pos[2] * col_pos[2];
            sum_4 += row_pos[3] * col_pos[3];
            row_pos += input_ch;
            col_pos += input_ch;
            col_count--;
            MARK("END dw_tail");
        }
        sum = requantize(sum, *output_mult++, *output_shift++);
        sum = MIN(MAX(sum + output_offset, act_min), act_max);
        *output++ = (q7_t)sum;
        sum_2 = requantize(sum_2, *output_mult++, *output_shift++);
        sum_2 = MIN(MAX(sum_2 + output_offset, act_min), act_max);
        *output++ = (q7_t)sum_2;
        sum_3 = requantize(sum_3, *output_mult++, *output_shift++);
        sum_3 = MIN(MAX(sum_3 + output_offset, act_min), act_max);
        *output++ = (q7_t)sum_3;
        sum_4 = requantize(sum_4, *output_mult++, *output_shift++);
        sum_4 = MIN(MAX(sum_4 + output_offset, act_min), act_max);
        *output++ = (q7_t)sum_4;
        row_count--;
        MARK("END dw_group");
    }
}

/* arm_nn_mat_mult_kernel_s8_s16 (arm_convolve_s8's DSP path): 2 output channels x 2 q15
 * im2col columns, 4 reduction elements per iteration = 16 MACs. */
q7_t *conv_kernel(const q7_t *input_a, const q15_t *input_b, uint16_t output_ch,
                  const int32_t *out_shift, const int32_t *out_mult, int32_t out_offset,
                  int16_t act_min, int16_t act_max, uint16_t num_col_a, const int32_t *bias,
                  q7_t *out_0) {
    q7_t *out_1 = out_0 + output_ch;
    const int32_t *bias_p = bias;
    uint16_t row_count = output_ch / 2;
    const q7_t *ip_a0 = input_a;
    while (row_count) {
        MARK("BEGIN cv_block");
        const q15_t *ip_b0 = input_b;
        const q15_t *ip_b1 = ip_b0 + num_col_a;
        const q7_t *ip_a1 = ip_a0 + num_col_a;
        q31_t ch_0_out_0 = *bias_p, ch_0_out_1 = *bias_p++;
        q31_t ch_1_out_0 = *bias_p, ch_1_out_1 = *bias_p++;
        uint16_t col_count = num_col_a / 4;
        while (col_count) {
            MARK("BEGIN cv_mac");
            q31_t a01, a02, a11, a12;
            q31_t b0 = rd2x_ia(&ip_b0);
            q31_t b1 = rd2x_ia(&ip_b1);
            /* read_and_pad: 4 int8 -> two q15x2 words */
            q31_t in = rd4_ia(&ip_a0);
            q31_t inA = SXTB16(ror8(in)), inB = SXTB16(in);
            a01 = PKHTB(inA, inB, 16); a02 = PKHBT(inB, inA, 16);
            in = rd4_ia(&ip_a1);
            inA = SXTB16(ror8(in)); inB = SXTB16(in);
            a11 = PKHTB(inA, inB, 16); a12 = PKHBT(inB, inA, 16);
            ch_0_out_0 = SMLAD(a01, b0, ch_0_out_0);
            ch_0_out_1 = SMLAD(a01, b1, ch_0_out_1);
            ch_1_out_0 = SMLAD(a11, b0, ch_1_out_0);
            ch_1_out_1 = SMLAD(a11, b1, ch_1_out_1);
            b0 = rd2x_ia(&ip_b0);
            b1 = rd2x_ia(&ip_b1);
            ch_0_out_0 = SMLAD(a02, b0, ch_0_out_0);
            ch_0_out_1 = SMLAD(a02, b1, ch_0_out_1);
            ch_1_out_0 = SMLAD(a12, b0, ch_1_out_0);
            ch_1_out_1 = SMLAD(a12, b1, ch_1_out_1);
            col_count--;
            MARK("END cv_mac");
        }
        ch_0_out_0 = requantize(ch_0_out_0, *out_mult, *out_shift);
        ch_0_out_0 = MIN(MAX(ch_0_out_0 + out_offset, act_min), act_max);
        *out_0++ = (q7_t)ch_0_out_0;
        ch_0_out_1 = requantize(ch_0_out_1, *out_mult, *out_shift);
        ch_0_out_1 = MIN(MAX(ch_0_out_1 + out_offset, act_min), act_max);
        *out_1++ = (q7_t)ch_0_out_1;
        out_mult++; out_shift++;
        ch_1_out_0 = requantize(ch_1_out_0, *out_mult, *out_shift);
        ch_1_out_0 = MIN(MAX(ch_1_out_0 + out_offset, act_min), act_max);
        *out_0++ = (q7_t)ch_1_out_0;
        ch_1_out_1 = requantize(ch_1_out_1, *out_mult, *out_shift);
        ch_1_out_1 = MIN(MAX(ch_1_out_1 + out_offset, act_min), act_max);
        *out_1++ = (q7_t)ch_1_out_1;
        out_mult++; out_shift++;
        ip_a0 += num_col_a;
        row_count--;
        MARK("END cv_block");
    }
    return out_0 + output_ch;
}

/* arm_convolve_s8 im2col, DSP path, per kernel tap of one output pixel (input_ch = 1 for the
 * KWS first layer): bounds check, then a padding memset or an arm_q7_to_q15_with_offset call. */
void conv_im2col(const q7_t *input, q15_t *two_column_buf, int32_t input_x, int32_t input_y,
                 int32_t input_ch, int32_t kernel_x, int32_t kernel_y, int32_t base_y,
                 int32_t base_x, int32_t input_offset) {
    for (int32_t i_ker_y = base_y; i_ker_y < base_y + kernel_y; i_ker_y++) {
        for (int32_t i_ker_x = base_x; i_ker_x < base_x + kernel_x; i_ker_x++) {
            MARK("BEGIN cv_tap");
            if (i_ker_y < 0 || i_ker_y >= input_y || i_ker_x < 0 || i_ker_x >= input_x) {
                memset(two_column_buf, 0, sizeof(q15_t) * input_ch);
            } else {
                q7_to_q15_with_offset(input + (i_ker_y * input_x + i_ker_x) * input_ch,
                                      two_column_buf, input_ch, (q15_t)input_offset);
            }
            two_column_buf += input_ch;
            MARK("END cv_tap");
        }
    }
}

/* arm_nn_vec_mat_mult_t_s8 (2020), DSP path (arm_fully_connected_s8): 2 rhs rows x 4 columns
 * per iteration = 8 MACs. */
void fc(const q7_t *lhs, const q7_t *rhs, const q31_t *bias, q7_t *dst, int32_t lhs_offset,
        int32_t rhs_offset, int32_t dst_offset, int32_t dst_multiplier, int32_t dst_shift,
        int32_t rhs_cols, int32_t rhs_rows, int32_t act_min, int32_t act_max) {
    const int16_t lhs_off16 = (int16_t)lhs_offset;
    const q31_t lhs_offset_s16x2 = (q31_t)((uint32_t)(uint16_t)lhs_off16 << 16 | (uint16_t)lhs_off16);
    (void)rhs_offset;
    for (int32_t i = 0; i < rhs_rows / 2; i++) {
        MARK("BEGIN fc_row");
        const q7_t *lhs_vec = lhs;
        const q7_t *rhs_0 = rhs;
        const q7_t *rhs_1 = rhs + rhs_cols;
        rhs += 2 * rhs_cols;
        q31_t res00 = *bias++, res01 = *bias++;
        for (int32_t k = rhs_cols >> 2; k; k--) {
            MARK("BEGIN fc_mac");
            q31_t in = rd4_ia(&lhs_vec);
            q31_t vec_1 = SADD16(SXTB16(ror8(in)), lhs_offset_s16x2);
            q31_t vec_0 = SADD16(SXTB16(in), lhs_offset_s16x2);
            q31_t ker_0 = rd4_ia(&rhs_0);
            q31_t ker_1 = SXTB16(ror8(ker_0));
            ker_0 = SXTB16(ker_0);
            res00 = SMLAD(ker_1, vec_1, res00);
            res00 = SMLAD(ker_0, vec_0, res00);
            ker_0 = rd4_ia(&rhs_1);
            ker_1 = SXTB16(ror8(ker_0));
            ker_0 = SXTB16(ker_0);
            res01 = SMLAD(ker_1, vec_1, res01);
            res01 = SMLAD(ker_0, vec_0, res01);
            MARK("END fc_mac");
        }
        res00 = requantize(res00, dst_multiplier, dst_shift);
        res01 = requantize(res01, dst_multiplier, dst_shift);
        res00 = MIN(MAX(res00 + dst_offset, act_min), act_max);
        res01 = MIN(MAX(res01 + dst_offset, act_min), act_max);
        *dst++ = (q7_t)res00;
        *dst++ = (q7_t)res01;
        MARK("END fc_row");
    }
}

/* arm_nn_requantize alone: its cost is added per call where -Os leaves it out of line. */
q31_t requantize_once(q31_t val, q31_t mult, q31_t shift) {
    MARK("BEGIN requantize");
    q31_t r = requantize(val, mult, shift);
    MARK("END requantize");
    return r;
}
