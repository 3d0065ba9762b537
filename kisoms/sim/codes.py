"""Every msg_cd the simulator answers with, in one place (several are unconfirmed KIS values)."""

OK = ("0", "APBK0013", "주문 전송 완료 되었습니다.")
INQUIRY_OK = ("0", "KIOK0000", "조회가 완료되었습니다")
RATE_LIMIT = ("1", "EGW00201", "초당 거래건수를 초과하였습니다.")
TOKEN_EXPIRED = ("1", "EGW00123", "기간이 만료된 token 입니다.")
TOKEN_INVALID = ("1", "EGW00121", "유효하지 않은 token 입니다.")
TOKEN_TOO_OFTEN = "EGW00133"  # token endpoint error_code: issued more than once a minute
BAD_APPKEY = ("1", "EGW00103", "유효하지 않은 AppKey입니다.")
BAD_TR_ID = ("1", "EGW00002", "서버 에러가 발생했습니다. (tr_id)")  # unconfirmed
MISSING_HEADER = ("1", "EGW00205", "필수 헤더가 누락되었습니다.")  # unconfirmed
BAD_BODY = ("1", "OPSQ0001", "입력 값이 올바르지 않습니다.")  # unconfirmed
NOT_BOUND = ("1", "IGW00002", "계좌에 대한 권한이 없습니다.")  # unconfirmed
OFF_TICK = ("1", "APBK0506", "호가단위가 맞지 않습니다.")  # unconfirmed
OUTSIDE_LIMITS = ("1", "APBK0507", "가격제한폭을 벗어났습니다.")  # unconfirmed
NO_CASH = ("1", "APBK0952", "주문가능금액을 초과 했습니다")  # unconfirmed
NO_HOLDINGS = ("1", "APBK0400", "주문 가능한 수량을 초과하였습니다.")  # unconfirmed
MARKET_CLOSED = ("1", "APBK0918", "장운영시간이 아닙니다.")  # unconfirmed
NOT_CANCELLABLE = ("1", "APBK0344", "정정/취소할 수량이 없습니다.")  # unconfirmed
UNKNOWN_ORDER = ("1", "APBK0345", "원주문번호가 존재하지 않습니다.")  # unconfirmed
FOK_UNFILLED = ("1", "APBK1680", "FOK 주문이 전량 체결되지 않아 거부되었습니다.")  # unconfirmed
UNKNOWN_SYMBOL = ("1", "APBK0656", "해당 종목정보가 없습니다.")  # unconfirmed

# WebSocket subscribe replies (msg_cd as python-kis reads them; the texts are unconfirmed).
WS_SUBSCRIBED = ("0", "OPSP0000", "SUBSCRIBE SUCCESS")
WS_UNSUBSCRIBED = ("0", "OPSP0001", "UNSUBSCRIBE SUCCESS")
WS_ALREADY_SUBSCRIBED = ("1", "OPSP0002", "ALREADY IN SUBSCRIBE")
WS_NOT_SUBSCRIBED = ("1", "OPSP0003", "UNSUBSCRIBE ERROR(not found!)")
WS_BAD_JSON = ("1", "OPSP0007", "JSON PARSING ERROR : invalid json format")
WS_BAD_APPROVAL = ("1", "OPSP0011", "invalid approval : NOT FOUND")
WS_BAD_TR_ID = ("1", "OPSP0009", "invalid tr_id")  # unconfirmed
