"""SOAP partner `login()` (`POST /services/Soap/u/{version}`), for clients that still use it.

simple-salesforce reads the un-prefixed `sessionId` and `serverUrl` elements of the reply and
the literal `sf:exceptionCode` / `sf:exceptionMessage` tags of a fault.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from defusedxml import ElementTree
from fastapi import APIRouter, Request
from starlette.responses import Response

from sandbox.salesforce.auth import Credentials, Sessions, instance_url_of

XML_TYPE = "text/xml; charset=utf-8"
INVALID_LOGIN = "Invalid username, password, security token; or user locked out."


def _text(root: Element, local_name: str) -> str:
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == local_name:
            return element.text or ""
    return ""


def login_fault(code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}</faultstring>"
        '<detail><sf:LoginFault xsi:type="sf:LoginFault">'
        f"<sf:exceptionCode>{code}</sf:exceptionCode>"
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
        "</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(body, 500, media_type=XML_TYPE)


def login_reply(credentials: Credentials, session_id: str, base: str, version: str) -> str:
    org15 = credentials.org_id[:15]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="urn:partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><loginResponse><result>"
        f"<metadataServerUrl>{base}/services/Soap/m/{version}/{org15}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
        f"<serverUrl>{base}/services/Soap/u/{version}/{org15}</serverUrl>"
        f"<sessionId>{escape(session_id)}</sessionId><userId>{credentials.user_id}</userId>"
        "<userInfo>"
        f"<organizationId>{credentials.org_id}</organizationId>"
        f"<userEmail>{escape(credentials.username)}</userEmail>"
        f"<userId>{credentials.user_id}</userId>"
        f"<userName>{escape(credentials.username)}</userName>"
        "<sessionSecondsValid>7200</sessionSecondsValid>"
        "</userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )


def soap_login_router(credentials: Credentials, sessions: Sessions) -> APIRouter:
    router = APIRouter()

    @router.post("/services/Soap/u/{version}")
    async def login(version: str, request: Request) -> Response:
        try:
            root = ElementTree.fromstring(await request.body())
        except ElementTree.ParseError:
            return login_fault("INVALID_LOGIN", INVALID_LOGIN)
        if not any(e.tag.rsplit("}", 1)[-1] == "login" for e in root.iter()):
            return login_fault("UNKNOWN_EXCEPTION", "Only the login call is imitated")
        username, password = _text(root, "username"), _text(root, "password")
        # The password arrives with the security token appended.
        if username != credentials.username or not password.startswith(credentials.password):
            return login_fault("INVALID_LOGIN", INVALID_LOGIN)
        reply = login_reply(credentials, sessions.issue(), instance_url_of(request), version)
        return Response(reply, 200, media_type=XML_TYPE)

    return router
