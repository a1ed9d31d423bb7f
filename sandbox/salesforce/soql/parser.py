"""Recursive-descent parser for the SOQL subset a sync needs; everything else is refused by name."""

from __future__ import annotations

from sandbox.salesforce.errors import SalesforceError
from sandbox.salesforce.soql.lexer import Kind, Token, error_at, tokenize
from sandbox.salesforce.soql.nodes import (
    BoolOp,
    Comparison,
    Condition,
    FieldRef,
    Includes,
    InList,
    Literal,
    Not,
    OrderItem,
    Query,
    RelativeDate,
    Value,
)

FIXED_DATE_LITERALS = frozenset({"TODAY", "YESTERDAY", "TOMORROW"})
N_DATE_LITERALS = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS"})
# Real SOQL features this imitation does not implement: named so the error says what is missing.
_UNSUPPORTED_CLAUSES = {
    "GROUP": "GROUP BY",
    "HAVING": "HAVING",
    "WITH": "WITH",
    "FOR": "FOR VIEW/REFERENCE/UPDATE",
    "USING": "USING SCOPE",
    "UPDATE": "UPDATE TRACKING/VIEWSTAT",
}
_AGGREGATES = frozenset({"COUNT", "SUM", "AVG", "MIN", "MAX", "COUNT_DISTINCT"})


def unsupported(text: str, pos: int, what: str) -> SalesforceError:
    return error_at(text, pos, f"{what} is not supported by the Baton sandbox's SOQL subset")


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # -- token helpers -------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tok
        if token.kind is not Kind.EOF:
            self.i += 1
        return token

    def is_kw(self, word: str, token: Token | None = None) -> bool:
        token = token or self.tok
        return token.kind is Kind.IDENT and token.text.upper() == word

    def unexpected(self, token: Token | None = None) -> SalesforceError:
        token = token or self.tok
        return error_at(self.text, token.pos, f"unexpected token: {token.shown()}")

    def expect_kw(self, word: str) -> Token:
        if not self.is_kw(word):
            raise self.unexpected()
        return self.advance()

    def expect(self, kind: Kind) -> Token:
        if self.tok.kind is not kind:
            raise self.unexpected()
        return self.advance()

    # -- grammar ---------------------------------------------------------------------------------
    def query(self) -> Query:
        self.expect_kw("SELECT")
        counted, alias = self.count_of_field()
        fields, count_only = ((), False) if counted is not None else self.select_list()
        self.expect_kw("FROM")
        sobject_token = self.expect(Kind.IDENT)
        if self.tok.kind is Kind.DOT:
            raise unsupported(self.text, self.tok.pos, "Relationship queries in FROM")
        if self.tok.kind is Kind.COMMA:
            raise unsupported(self.text, self.tok.pos, "More than one sObject in FROM")
        self.refuse_clause()
        where = None
        if self.is_kw("WHERE"):
            self.advance()
            where = self.condition()
        self.refuse_clause()
        order_by: tuple[OrderItem, ...] = ()
        if self.is_kw("ORDER"):
            self.advance()
            self.expect_kw("BY")
            order_by = self.order_list()
        limit = offset = None
        offset_pos = 0
        if self.is_kw("LIMIT"):
            self.advance()
            limit = self.integer()
        if self.is_kw("OFFSET"):
            offset_pos = self.advance().pos
            offset = self.integer()
        self.refuse_clause()
        if self.tok.kind is not Kind.EOF:
            raise self.unexpected()
        return Query(
            fields=fields,
            count_only=count_only,
            sobject=FieldRef(sobject_token.text, sobject_token.pos),
            where=where,
            order_by=order_by,
            limit=limit,
            offset=offset,
            offset_pos=offset_pos,
            counted=counted,
            alias=alias,
        )

    def refuse_clause(self) -> None:
        token = self.tok
        if token.kind is Kind.IDENT and token.text.upper() in _UNSUPPORTED_CLAUSES:
            raise unsupported(self.text, token.pos, _UNSUPPORTED_CLAUSES[token.text.upper()])

    def integer(self) -> int:
        token = self.tok
        if token.kind is not Kind.NUMBER or not token.text.isdigit():
            raise self.unexpected()
        self.advance()
        return int(token.text)

    def count_of_field(self) -> tuple[FieldRef | None, str | None]:
        """`COUNT(field) [alias]` alone in the select list: the field counted and the alias
        (None: Salesforce names the column expr0). Anything else is the select list's."""
        if not (
            self.is_kw("COUNT")
            and self.peek().kind is Kind.LPAREN
            and self.peek(2).kind is Kind.IDENT
            and self.peek(3).kind is Kind.RPAREN
        ):
            return None, None
        self.i += 2
        counted = self.field_ref()
        self.expect(Kind.RPAREN)
        alias = None
        if self.tok.kind is Kind.IDENT and not self.is_kw("FROM"):
            alias = self.advance().text
        if self.tok.kind is Kind.COMMA:
            raise unsupported(self.text, self.tok.pos, "Aggregate functions with other fields")
        return counted, alias

    def select_list(self) -> tuple[tuple[FieldRef, ...], bool]:
        if self.is_kw("COUNT") and self.peek().kind is Kind.LPAREN:
            if self.peek(2).kind is Kind.RPAREN:
                self.i += 3
                if self.tok.kind is Kind.COMMA:
                    raise unsupported(self.text, self.tok.pos, "COUNT() with other fields")
                return (), True
            raise unsupported(self.text, self.tok.pos, "Aggregate function COUNT(field)")
        fields = [self.select_item()]
        while self.tok.kind is Kind.COMMA:
            self.advance()
            fields.append(self.select_item())
        return tuple(fields), False

    def select_item(self) -> FieldRef:
        token = self.tok
        if token.kind is Kind.LPAREN:
            raise unsupported(self.text, token.pos, "Parent-to-child subqueries")
        if token.kind is not Kind.IDENT or self.is_kw("FROM"):
            raise self.unexpected()
        upper = token.text.upper()
        if upper == "TYPEOF":
            raise unsupported(self.text, token.pos, "TYPEOF")
        if self.peek().kind is Kind.LPAREN:
            if upper == "FIELDS":
                raise unsupported(self.text, token.pos, "FIELDS()")
            what = "Aggregate function" if upper in _AGGREGATES else "Function"
            raise unsupported(self.text, token.pos, f"{what} {upper}()")
        field = self.field_ref()
        if self.tok.kind is Kind.IDENT and not self.is_kw("FROM"):
            raise unsupported(self.text, self.tok.pos, "Field aliases")
        return field

    def field_ref(self) -> FieldRef:
        token = self.expect(Kind.IDENT)
        if self.tok.kind is Kind.DOT:
            raise unsupported(self.text, token.pos, "Relationship fields (e.g. Account.Name)")
        return FieldRef(token.text, token.pos)

    def order_list(self) -> tuple[OrderItem, ...]:
        items = [self.order_item()]
        while self.tok.kind is Kind.COMMA:
            self.advance()
            items.append(self.order_item())
        return tuple(items)

    def order_item(self) -> OrderItem:
        field = self.field_ref()
        descending = False
        if self.is_kw("ASC") or self.is_kw("DESC"):
            descending = self.advance().text.upper() == "DESC"
        nulls_first: bool | None = None
        if self.is_kw("NULLS"):
            self.advance()
            if not (self.is_kw("FIRST") or self.is_kw("LAST")):
                raise self.unexpected()
            nulls_first = self.advance().text.upper() == "FIRST"
        return OrderItem(field, descending, nulls_first)

    def condition(self) -> Condition:
        """AND and OR may not be mixed at one level without parentheses (as in real SOQL)."""
        first = self.unary()
        if not (self.is_kw("AND") or self.is_kw("OR")):
            return first
        op = self.tok.text.upper()
        operands = [first]
        while self.is_kw("AND") or self.is_kw("OR"):
            if self.tok.text.upper() != op:
                raise self.unexpected()
            self.advance()
            operands.append(self.unary())
        return BoolOp(op, tuple(operands))

    def unary(self) -> Condition:
        if self.is_kw("NOT"):
            self.advance()
            return Not(self.unary())
        if self.tok.kind is Kind.LPAREN:
            self.advance()
            inner = self.condition()
            self.expect(Kind.RPAREN)
            return inner
        return self.simple()

    def simple(self) -> Condition:
        if self.tok.kind is Kind.IDENT and self.peek().kind is Kind.LPAREN:
            raise unsupported(self.text, self.tok.pos, f"Function {self.tok.text.upper()}()")
        field = self.field_ref()
        token = self.tok
        if token.kind is Kind.OP:
            self.advance()
            op = "!=" if token.text == "<>" else token.text
            return Comparison(field, op, self.value())
        if self.is_kw("LIKE"):
            self.advance()
            return Comparison(field, "LIKE", self.value())
        if self.is_kw("IN"):
            self.advance()
            return InList(field, False, self.value_list())
        if self.is_kw("NOT") and self.is_kw("IN", self.peek()):
            self.i += 2
            return InList(field, True, self.value_list())
        if self.is_kw("INCLUDES") or self.is_kw("EXCLUDES"):
            excludes = self.advance().text.upper() == "EXCLUDES"
            return Includes(field, excludes, self.value_list())
        raise self.unexpected()

    def value_list(self) -> tuple[Value, ...]:
        self.expect(Kind.LPAREN)
        if self.is_kw("SELECT"):
            raise unsupported(self.text, self.tok.pos, "Semi-join and anti-join subqueries")
        values = [self.value()]
        while self.tok.kind is Kind.COMMA:
            self.advance()
            values.append(self.value())
        self.expect(Kind.RPAREN)
        return tuple(values)

    def value(self) -> Value:
        token = self.tok
        if token.kind in (Kind.STRING, Kind.NUMBER, Kind.DATE, Kind.DATETIME):
            self.advance()
            return Literal(token)
        if token.kind is Kind.COLON:
            raise unsupported(self.text, token.pos, "Apex bind variables")
        if token.kind is Kind.IDENT:
            upper = token.text.upper()
            if upper in ("TRUE", "FALSE", "NULL"):
                self.advance()
                return Literal(token)
            if upper in FIXED_DATE_LITERALS:
                self.advance()
                return RelativeDate(upper, None, token.pos)
            if upper in N_DATE_LITERALS:
                self.advance()
                self.expect(Kind.COLON)
                return RelativeDate(upper, self.integer(), token.pos)
            if self.peek().kind is Kind.COLON or upper.startswith(("LAST_", "NEXT_", "THIS_")):
                raise unsupported(self.text, token.pos, f"Date literal {upper}")
        raise self.unexpected()


def parse(text: str) -> Query:
    return Parser(text).query()
