"""KIS reply field lists: one table per endpoint, in KIS's documented order. A schema change is a one-line edit.

Source: KIS's API documentation as published in koreainvestment/open-trading-api, examples_llm/domestic_stock/
<endpoint>/chk_<endpoint>.py (``COLUMN_MAPPING``, the documented output fields), with the document id noted
per table. Spellings are KIS's, typos included (``cnc_cfrm_qty``, ``excg_id_dvsn_Cd``); ``ALIASES`` adds the
regular spelling beside each so clients reading either find it.
"""

from __future__ import annotations

from functools import lru_cache

# [국내주식] 기본시세 > 주식현재가 시세 [v1_국내주식-008], FHKST01010100: 82 fields.
PRICE = (
    "iscd_stat_cls_code", "marg_rate", "rprs_mrkt_kor_name", "new_hgpr_lwpr_cls_code", "bstp_kor_isnm",
    "temp_stop_yn", "oprc_rang_cont_yn", "clpr_rang_cont_yn", "crdt_able_yn", "grmn_rate_cls_code", "elw_pblc_yn",
    "stck_prpr", "prdy_vrss", "prdy_vrss_sign", "prdy_ctrt", "acml_tr_pbmn", "acml_vol", "prdy_vrss_vol_rate",
    "stck_oprc", "stck_hgpr", "stck_lwpr", "stck_mxpr", "stck_llam", "stck_sdpr", "wghn_avrg_stck_prc",
    "hts_frgn_ehrt", "frgn_ntby_qty", "pgtr_ntby_qty", "pvt_scnd_dmrs_prc", "pvt_frst_dmrs_prc", "pvt_pont_val",
    "pvt_frst_dmsp_prc", "pvt_scnd_dmsp_prc", "dmrs_val", "dmsp_val", "cpfn", "rstc_wdth_prc", "stck_fcam",
    "stck_sspr", "aspr_unit", "hts_deal_qty_unit_val", "lstn_stcn", "hts_avls", "per", "pbr", "stac_month",
    "vol_tnrt", "eps", "bps", "d250_hgpr", "d250_hgpr_date", "d250_hgpr_vrss_prpr_rate", "d250_lwpr",
    "d250_lwpr_date", "d250_lwpr_vrss_prpr_rate", "stck_dryy_hgpr", "dryy_hgpr_vrss_prpr_rate", "dryy_hgpr_date",
    "stck_dryy_lwpr", "dryy_lwpr_vrss_prpr_rate", "dryy_lwpr_date", "w52_hgpr", "w52_hgpr_vrss_prpr_ctrt",
    "w52_hgpr_date", "w52_lwpr", "w52_lwpr_vrss_prpr_ctrt", "w52_lwpr_date", "whol_loan_rmnd_rate", "ssts_yn",
    "stck_shrn_iscd", "fcam_cnnm", "cpfn_cnnm", "apprch_rate", "frgn_hldn_qty", "vi_cls_code", "ovtm_vi_cls_code",
    "last_ssts_cntg_qty", "invt_caful_yn", "mrkt_warn_cls_code", "short_over_yn", "sltr_yn", "mang_issu_cls_code",
)

# [국내주식] 종목정보 > 상품기본조회 [v1_국내주식-029], CTPF1604R: the sample's 12 fields and the name fields
# the same document lists (python-kis reads the abbreviated and 120-character names).
SEARCH_INFO = (
    "pdno", "prdt_type_cd", "prdt_name", "prdt_name120", "prdt_abrv_name", "prdt_eng_name", "prdt_eng_name120",
    "prdt_eng_abrv_name", "std_pdno", "shtn_pdno", "prdt_sale_stat_cd", "prdt_risk_grad_cd", "prdt_clsf_cd",
    "prdt_clsf_name", "sale_strt_dt", "sale_end_dt", "wrap_asst_type_cd", "ivst_prdt_type_cd",
    "ivst_prdt_type_cd_name", "frst_erlm_dt",
)

# [국내주식] 주문/계좌 > 주식잔고조회 [v1_국내주식-006], TTTC8434R / VTTC8434R.
BALANCE_ROW = (
    "pdno", "prdt_name", "trad_dvsn_name", "bfdy_buy_qty", "bfdy_sll_qty", "thdt_buyqty", "thdt_sll_qty",
    "hldg_qty", "ord_psbl_qty", "pchs_avg_pric", "pchs_amt", "prpr", "evlu_amt", "evlu_pfls_amt", "evlu_pfls_rt",
    "evlu_erng_rt", "loan_dt", "loan_amt", "stln_slng_chgs", "expd_dt", "fltt_rt", "bfdy_cprs_icdc",
    "item_mgna_rt_name", "grta_rt_name", "sbst_pric", "stck_loan_unpr",
)
BALANCE_SUMMARY = (
    "dnca_tot_amt", "nxdy_excc_amt", "prvs_rcdl_excc_amt", "cma_evlu_amt", "bfdy_buy_amt", "thdt_buy_amt",
    "nxdy_auto_rdpt_amt", "bfdy_sll_amt", "thdt_sll_amt", "d2_auto_rdpt_amt", "bfdy_tlex_amt", "thdt_tlex_amt",
    "tot_loan_amt", "scts_evlu_amt", "tot_evlu_amt", "nass_amt", "fncg_gld_auto_rdpt_yn", "pchs_amt_smtl_amt",
    "evlu_amt_smtl_amt", "evlu_pfls_smtl_amt", "tot_stln_slng_chgs", "bfdy_tot_asst_evlu_amt", "asst_icdc_amt",
    "asst_icdc_erng_rt",
)

# [국내주식] 주문/계좌 > 주식정정취소가능주문조회 [v1_국내주식-004], TTTC0084R.
PSBL_RVSECNCL_ROW = (
    "ord_gno_brno", "odno", "orgn_odno", "ord_dvsn_name", "pdno", "prdt_name", "rvse_cncl_dvsn_name", "ord_qty",
    "ord_unpr", "ord_tmd", "tot_ccld_qty", "tot_ccld_amt", "psbl_qty", "sll_buy_dvsn_cd", "ord_dvsn_cd",
    "mgco_aptm_odno", "excg_dvsn_cd", "excg_id_dvsn_cd", "excg_id_dvsn_name", "stpm_cndt_pric", "stpm_efct_occr_yn",
)

# [국내주식] 주문/계좌 > 매수가능조회 [v1_국내주식-007], TTTC8908R / VTTC8908R: 12 fields.
PSBL_ORDER = (
    "ord_psbl_cash", "ord_psbl_sbst", "ruse_psbl_amt", "fund_rpch_chgs", "psbl_qty_calc_unpr", "nrcvb_buy_amt",
    "nrcvb_buy_qty", "max_buy_amt", "max_buy_qty", "cma_evlu_amt", "ovrs_re_use_amt_wcrc", "ord_psbl_frcr_amt_wcrc",
)

# [국내주식] 주문/계좌 > 주식일별주문체결조회 [v1_국내주식-005], TTTC0081R / VTTC0081R (and the older ids).
DAILY_CCLD_ROW = (
    "ord_dt", "ord_gno_brno", "odno", "orgn_odno", "ord_dvsn_name", "sll_buy_dvsn_cd", "sll_buy_dvsn_cd_name",
    "pdno", "prdt_name", "ord_qty", "ord_unpr", "ord_tmd", "tot_ccld_qty", "avg_prvs", "cncl_yn", "tot_ccld_amt",
    "loan_dt", "ordr_empno", "ord_dvsn_cd", "cnc_cfrm_qty", "rmn_qty", "rjct_qty", "ccld_cndt_name", "inqr_ip_addr",
    "cpbc_ordp_ord_rcit_dvsn_cd", "cpbc_ordp_infm_mthd_dvsn_cd", "infm_tmd", "ctac_tlno", "prdt_type_cd",
    "excg_dvsn_cd", "cpbc_ordp_mtrl_dvsn_cd", "ord_orgno", "rsvn_ord_end_dt", "excg_id_dvsn_Cd", "stpm_cndt_pric",
    "stpm_efct_occr_dtmd",
)
DAILY_CCLD_SUMMARY = ("tot_ord_qty", "tot_ccld_qty", "tot_ccld_amt", "prsm_tlex_smtl", "pchs_avg_pric")

# [국내주식] 주문/계좌 > 주식주문(현금) [v1_국내주식-001] and 주식주문(정정취소) [v1_국내주식-003].
ORDER_ACK = ("KRX_FWDG_ORD_ORGNO", "ODNO", "ORD_TMD")

# The documented spelling -> the regular one, both sent.
ALIASES = {"cnc_cfrm_qty": "cncl_cfrm_qty", "excg_id_dvsn_Cd": "excg_id_dvsn_cd"}

TEXT_MARKERS = ("name", "isnm", "_cd", "code", "date", "_dt", "cnnm", "dtmd", "tmd", "addr", "tlno", "empno",
                "pdno", "odno", "brno", "orgno", "month")


def blank(name: str) -> str:
    """What KIS sends for a field the simulator does not model: "N" for flags, "" for text, "0" for numbers."""
    lowered = name.lower()
    if lowered.endswith("_yn"):
        return "N"
    return "" if any(m in lowered for m in TEXT_MARKERS) else "0"


@lru_cache(maxsize=None)
def _template(table: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str]]:
    """Blanks for every field of ``table``, and which of its fields have an alias."""
    return {name: blank(name) for name in table}, {n: ALIASES[n] for n in table if n in ALIASES}


def shape(table: tuple[str, ...], known: dict[str, str]) -> dict[str, str]:
    """A reply object with every field of ``table`` in order: known values, blanks for the rest, aliases."""
    blanks, aliases = _template(table)
    out = {**blanks, **{k: v for k, v in known.items() if k in blanks}}
    for documented, regular in aliases.items():
        out[documented] = out[regular] = known.get(documented, known.get(regular, blanks[documented]))
    return out
