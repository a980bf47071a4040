# ruff: noqa: RUF001 - look-alike letters here are the point (confusables, scripts).
"""The core override, extraction, role and no-limits phrasings in French, German, Spanish,
Italian, Portuguese, Dutch, Russian, Chinese, Japanese, Korean and Arabic.

Written against the folded view: Latin diacritics and Arabic hamza/harakat are gone
("révèle" reads "revele", "أوامر" reads "اوامر", "й" reads "и"), CJK is untouched. Objects
are the words for *instructions/rules*, never for "message" or "email", so "ignorez mon
e-mail précédent" stays an ordinary request.
"""

from __future__ import annotations

from types import MappingProxyType

from policies.injection.signal import Signal, alternatives, anchored, signal

_GAP = r"(?:[\s-]+[\w']+){0,4}?\s+"

_OVERRIDE_LATIN = alternatives(
    # fr
    rf"\b(?:ignore[rz]?|oublie[rz]?|ne tiens? pas compte des|ne tenez pas compte des|"
    rf"fais abstraction des|faites abstraction des){_GAP}(?:instructions?|consignes?|regles|"
    r"directives)\b",
    # de
    rf"\b(?:ignorier\w*|vergiss\w*|vergessen sie|missacht\w*|uberschreib\w*|verwirf\w*)"
    rf"{_GAP}(?:anweisungen|anweisung|instruktionen|regeln|richtlinien|vorgaben|befehle|"
    r"systemanweisungen|anordnungen)\b",
    r"\bvergiss (?:alles|alle)\b",
    # es
    rf"\b(?:ignora\w*|olvida\w*|descarta\w*|omite|haz caso omiso de){_GAP}(?:instrucciones|"
    r"reglas|directrices|indicaciones|ordenes|normas)\b",
    # it
    rf"\b(?:ignora\w*|dimentica\w*|trascura|scarta){_GAP}(?:istruzioni|regole|direttive|"
    r"linee guida|indicazioni)\b",
    # pt
    rf"\b(?:ignor[ea]\w*|esquec\w*|esqueca\w*|desconsider[ea]\w*|despreze){_GAP}(?:instrucoes|"
    r"instrucao|regras|diretrizes|orientacoes|comandos)\b",
    # nl
    rf"\b(?:negeer|vergeet|negeren|vergeten){_GAP}(?:instructies|instructie|regels|"
    r"richtlijnen|aanwijzingen|opdrachten)\b",
)
_OVERRIDE_OTHER = alternatives(
    r"(?:игнорир\w*|забуд\w*|забыть|не обращаи\w* внимания на|отбрось\w*|пренебреги\w*)"
    r"(?:\s+\w+){0,4}?\s+(?:инструкц\w*|указани\w*|правил\w*|команд\w*|директив\w*)",
    r"(?:忽略|无视|無視|忽视|忽視|不要理会|忘记|忘記|忘掉|跳过|跳過|不要遵守|不再遵守)"
    # The gap stays inside one clause: "forgot the password, then follow the prompts" (a
    # CJK comma between "forget" and "prompt") is two.
    r"[^，。；！？、,.;!?\n]{0,8}?(?:指令|指示|说明|說明|规则|規則|提示|命令|设定|設定|要求)",
    r"(?:指示|命令|ルール|指令|制約|設定|プロンプト)(?:を|は)?(?:すべて|全て|全部)?(?:無視|忘れ)",
    r"(?:지시|명령|지침|규칙|지시사항|프롬프트|설정)\w*\s*(?:을|를|은|는)?\s*(?:모두\s*|전부\s*)?"
    r"(?:무시|잊어|잊으)",
    r"(?:تجاهل|تجاهلي|تجاهلوا|انس|انسى|انسي|اترك|لا تلتزم ب)\s*(?:\w+\s+){0,3}?(?:التعليمات|"
    r"تعليمات|الاوامر|اوامر|القواعد|الارشادات|التوجيهات)",
)

_PROMPT_WORDS = alternatives(
    r"prompt (?:systeme|system|di sistema|del sistema|do sistema|de sistema)",
    r"system-?prompt",
    "systemprompt",
    "systeemprompt",
    r"systemanweisung\w*",
    r"systeminstruktion\w*",
    r"instrucciones (?:del|de) sistema",
    "istruzioni di sistema",
    r"instrucoes do sistema",
    r"instructions? (?:systeme|initiales|cachees)",
    r"consignes? (?:systeme|initiales)",
    "message systeme",
    r"systeeminstructies",
    r"системн\w* (?:промпт\w*|подсказк\w*|инструкц\w*|сообщени\w*)",
    r"исходн\w* инструкц\w*",
    "系统提示",
    "系統提示",
    "系统指令",
    "系統指令",
    "初始指令",
    "システムプロンプト",
    "初期指示",
    "시스템 프롬프트",
    "시스템 지시",
    "موجه النظام",
    "تعليمات النظام",
    "رسالة النظام",
)
_REVEAL_VERBS = alternatives(
    r"revele\w*",
    r"montre\w*",
    r"affiche\w*",
    r"divulgue\w*",
    r"repete\w*",
    "dis-moi",
    r"zeig\w*",
    r"verrat\w*",
    r"nenn\w*",
    r"wiederhol\w*",
    r"revela\w*",
    r"muestra\w*",
    "dime",
    r"rivela\w*",
    r"mostra\w*",
    "dimmi",
    r"ripeti\w*",
    r"revele\w*",
    r"mostre\w*",
    "diga",
    "toon",
    r"onthul\w*",
    "geef",
    r"herhaal\w*",
    r"покажи\w*",
    r"раскрои\w*",
    "выведи",
    "скажи",
    "повтори",
    "напиши",
    "显示",
    "透露",
    "泄露",
    "告诉我",
    "告訴我",
    "输出",
    "輸出",
    "打印",
    "展示",
    "教えて",
    "表示",
    "見せて",
    "出力",
    "보여",
    "알려",
    "공개",
    "출력",
    "اكشف",
    "اظهر",
    "اعرض",
    "اخبرني",
    "اطبع",
)

_SIGNALS: tuple[Signal, ...] = (
    signal("override_intl", "override", _OVERRIDE_LATIN + "|" + _OVERRIDE_OTHER, 3.5),
    signal(
        "reveal_prompt_intl",
        "reveal",
        rf"{_REVEAL_VERBS}.{{0,40}}?{_PROMPT_WORDS}|{_PROMPT_WORDS}.{{0,20}}?{_REVEAL_VERBS}",
        3.2,
    ),
    signal("prompt_words_intl", "reveal", _PROMPT_WORDS, 0.6),
    signal(
        "you_are_now_intl",
        "hijack",
        alternatives(
            r"\b(?:tu es|vous etes) (?:desormais|maintenant|a present)\b",
            r"\ba partir de maintenant,? (?:tu|vous)\b",
            r"\bdesormais,? (?:tu|vous)\b",
            r"\bdu bist (?:jetzt|nun|ab sofort|ab jetzt)\b",
            r"\bab (?:jetzt|sofort) (?:bist|hast|gibst|antwortest|ignorierst|befolgst) du\b",
            r"\bahora (?:eres|estas|seras)\b",
            r"\ba partir de ahora,? (?:eres|responde|tu)\b",
            r"\bora (?:sei|tu sei)\b",
            r"\bd'?(?:ora|adesso) in (?:poi|avanti),? (?:sei|tu)\b",
            r"\bagora (?:voce e|tu es|voce esta)\b",
            r"\ba partir de agora,? (?:voce|tu)\b",
            r"\bje bent nu\b",
            r"\bvanaf nu (?:ben je|ben jij|antwoord|moet je)\b",
            r"\bтеперь ты\b",
            r"\bотныне ты\b",
            r"\bс этого момента ты\b",
            r"\bты больше не\b",
            "你现在是",
            "你現在是",
            "从现在开始,?你",
            "從現在開始,?你",
            "你不再是",
            "あなたは今から",
            "今からあなたは",
            "これからあなたは",
            "あなたはもう",
            r"지금부터\s*(?:너는|당신은)",
            r"이제부터\s*(?:너는|당신은)",
            "너는 이제",
            "당신은 이제",
            "انت الان",
            "من الان فصاعدا",
        ),
        2.0,
    ),
    signal(
        "unrestricted_intl",
        "unrestricted",
        alternatives(
            r"\bsans (?:aucune )?(?:restrictions?|limites?|filtres?|regles|censure)\b",
            r"\bkeine (?:regeln|einschrankungen|grenzen|filter|beschrankungen|richtlinien)\b",
            r"\bohne (?:jegliche )?(?:einschrankungen|regeln|filter|grenzen|beschrankungen|"
            r"zensur)\b",
            r"\buneingeschrankt\w*",
            r"\bsin (?:ninguna )?(?:restricciones|limites|filtros?|reglas|censura)\b",
            r"\bsenza (?:alcuna )?(?:restrizioni|limiti|filtri|regole|censura)\b",
            r"\bsem (?:nenhuma )?(?:restricoes|limites|filtros?|regras|censura)\b",
            r"\bzonder (?:enige )?(?:beperkingen|regels|filters?|censuur)\b",
            r"\bбез (?:каких-либо |всяких )?(?:ограничени\w*|правил|фильтр\w*|цензур\w*)",
            "没有(?:任何)?(?:限制|规则|约束|过滤)",
            "沒有(?:任何)?(?:限制|規則)",
            "不受(?:任何)?(?:限制|约束|約束)",
            "無制限",
            "制限なし",
            "制限のない",
            "制限がない",
            r"제한\s*없이",
            "제한이 없는",
            r"제약\s*없이",
            r"بدون (?:اي )?(?:قيود|قواعد|رقابة)",
            "بلا قيود",
        ),
        1.8,
    ),
    signal(
        "new_instructions_intl",
        "override",
        alternatives(
            r"\bnouvelles? (?:instructions|consignes)\s*:",
            r"\bneue (?:anweisungen|anweisung|"
            r"instruktionen|regeln)\s*:",
            r"\bnuevas (?:instrucciones|reglas)\s*:",
            r"\bnuove (?:istruzioni|regole)\s*:",
            r"\bnovas (?:instrucoes|regras)\s*:",
            r"\bnieuwe (?:instructies|regels)\s*:",
            r"\bновые (?:инструкции|правила)\s*:",
            "新(?:的)?指令:",
            "新しい指示:",
            "새로운 지시:",
            r"تعليمات جديدة\s*:",
        ),
        2.2,
    ),
    signal(
        "authority_note_intl",
        "authority",
        alternatives(
            r"\bnote systeme\s*:",
            r"\bsystemhinweis\s*:",
            r"\bnota del sistema\s*:",
            r"\bnota di sistema\s*:",
            r"\bnota do sistema\s*:",
            r"\bsysteemmelding\s*:",
            r"\bсистемное (?:уведомление|сообщение)\s*:",
            "系统(?:通知|消息):",
            "システム(?:通知|メッセージ):",
            r"시스템 (?:알림|메시지)\s*:",
            r"(?:ملاحظة|رسالة) النظام\s*:",
        ),
        2.2,
        2.6,
    ),
    signal(
        "safety_off_intl",
        "authority",
        alternatives(
            r"\b(?:regles|consignes|mesures) de securite ne s'?appliquent (?:pas|plus)",
            r"\bsicherheits(?:richtlinien|regeln|vorgaben)\w*(?: \w+){0,3} nicht (?:mehr )?"
            r"(?:gelten|anwendbar)",
            r"\b(?:reglas|normas|pautas) de seguridad no (?:se )?aplican",
            r"\b(?:linee guida|regole|norme) di sicurezza non (?:valgono|si applicano)",
            r"\b(?:regras|normas) de seguranca nao se aplicam",
            r"\bveiligheids(?:regels|richtlijnen) (?:zijn|gelden) niet",
            r"правила безопасности (?:не|больше не) (?:действуют|применяются)",
            "安全(?:规则|準則|准则|限制)(?:不再)?不适用",
            "安全(?:規則|ルール)は適用されません",
        ),
        2.5,
    ),
    signal(
        "forged_reasoning_intl",
        "cot",
        r"\b(?:come|en tant qu'|als|como|in qualita di|als de) ?(?:assistente|assistant|asistente|"
        r"assistent)\b,? (?:ho|j'ai|habe ich|he|ya he|heb ik|eu ja|ja)\b",
        1.6,
    ),
    signal(
        "exfil_target_intl",
        "exfil",
        r"\b(?:envo\w*|transmet\w*|sende\w*|schick\w*|weiterleit\w*|leite\w*|envia\w*|"
        r"reenvia\w*|invia\w*|inoltra\w*|manda\w*|stuur\w*|doorstur\w*|отправ\w*|перешл\w*"
        r")\b[^\n]{0,80}?(?:https?://|[\w.+-]+@[\w-]+\.)",
        1.3,
        2.4,
    ),
    signal(
        "sensitive_data_intl",
        "data",
        r"\b(?:donnees (?:des )?clients|mots? de passe|kundendaten|passw[oö]rter|zugangsdaten|"
        r"datos de (?:los )?clientes|contrasenas|credenciales|dati (?:dei )?clienti|credenziali|"
        r"dados (?:dos )?clientes|senhas|klantgegevens|wachtwoorden|данные клиентов|пароли|"
        r"учетные данные)\b",
        0.8,
    ),
    signal(
        "output_directive_intl",
        "directive",
        r"\b(?:fin|ende|final|fine|einde|конце)\s+(?:de\s+|di\s+|van\s+)?(?:toute|chaque|jeder|"
        r"cualquier|cada|ogni|elke|каждого|любого)\s+(?:reponse|antwort|respuesta|risposta|"
        r"resposta|antwoord|ответа)\b|\b(?:dans|in|en|na)\s+(?:ta|votre|deiner|ihrer|tu|su|"
        r"la tua|sua|je|jouw)\s+(?:reponse|antwort|respuesta|risposta|resposta|antwoord)\b",
        0.5,
        2.0,
    ),
)

# Pre-filter substrings per signal (see `Signal.anchors`): one must occur for it to run.
_ANCHORS = MappingProxyType(
    {
        "override_intl": (
            "ignor oubli tiens tenez abstr vergi verge missa ubers verwi olvid desca omite omiso "
            "dimen trasc scart esque desco despr negeer negeren igno игнор забуд забыт обращ отбро "
            "прене 忽略 无视 無視 忽视 忽視 不要理会 忘记 忘記 忘掉 跳过 跳過 遵守 忘れ 무시 잊어 "
            "잊으 تجاهل انس اترك تلتزم | instr consi regles direc anwei regeln richt vorga befeh "
            "syste anord alles alle reglas indic orden normas istru regole linee regra orien coman "
            "instrucoes instrucao inst regels aanwi opdra инстр указа прави коман дирек 指令 指示 "
            "说明 說明 规则 規則 提示 命令 设定 設定 要求 ルール 制約 プロンプト 지시 명령 지침 "
            "규칙 프롬프트 설정 التعليمات تعليمات الاوامر اوامر القواعد الارشادات التوجيهات"
        ),
        "reveal_prompt_intl": (
            "revel montr affic divul repet dis-moi zeig zeige zeigt verra nenne wiede revela muest "
            "dime rivel mostr dimmi ripet revele mostre diga toon onthul geef herha покаж раскр "
            "выведи скажи повтори напиши 显示 透露 泄露 告诉我 告訴我 输出 輸出 打印 展示 教えて "
            "表示 見せて 出力 보여 알려 공개 출력 اكشف اظهر اعرض اخبرني اطبع | promp systemprompt "
            "systemanweisung systemanweisungen systeminstruktion systeminstruktionen sistema "
            "systeme systeemprompt systeeminstructies initiales cachees систе исход 系统 系統 "
            "初始指令 システム 初期指示 시스템 النظام"
        ),
        "prompt_words_intl": (
            "systemprompt systemanweisung systemanweisungen systeminstruktion systeminstruktionen "
            "sistema systeme systeemprompt systeeminstructies initiales cachees систе исход 系统 "
            "系統 初始指令 システム 初期指示 시스템 النظام promp"
        ),
        "you_are_now_intl": (
            "desor maint prese bist jetzt sofort ahora partir ora adesso agora bent vanaf теперь "
            "отныне момен больше 你现在 你現在 从现在 從現在 你不再 今から これから あなたはもう "
            "지금부터 이제 انت الان"
        ),
        "unrestricted_intl": (
            "sans keine ohne uneingeschrankt uneingeschraenkt sin senza sem zonder без 没有 沒有 "
            "不受 制限 제한 제약 بدون بلا"
        ),
        "new_instructions_intl": (
            "nouve neue nueva nuevas nuove novas nieuwe новые 新 새로운 جديدة | :"
        ),
        "authority_note_intl": (
            "systeme systemhinweis sistema systeemmelding системное 系统 システム 시스템 النظام | :"
        ),
        "output_directive_intl": "repon antwo respu rispo respo antwoord ответ",
        "safety_off_intl": "secur siche segur sicur segur veili безоп 安全",
        "forged_reasoning_intl": "assistent assistant asistente assistente",
        "exfil_target_intl": (
            "envoi envoy trans sende schic weite leite envia reenv invia inolt manda stuur doors "
            "отпра переш | http https @"
        ),
        "sensitive_data_intl": (
            "donne mot kunde passw zugan datos contr crede dati dados senhas klant wacht данны "
            "парол учетн"
        ),
    }
)

SIGNALS = anchored(_SIGNALS, _ANCHORS)
