"""Seed a migrated Papermerge 2.1 instance through Papermerge's own ORM.

Runs inside the Papermerge venv with the instance's environment (DJANGO_SETTINGS_MODULE,
PAPERMERGE__CONFIG, PYTHONPATH=<project dir>): see tests/support/papermerge_host.py.

    seed.py [--no-groups]        the standard data set (below); deterministic content and uuids
                                 (--no-groups: without the group, which Papermerge 2.1.5's own
                                 restore cannot restore: its archive refers to groups by id
                                 but does not hold them)
    seed.py --documents N [--pdf-size BYTES] [--sidecars-only-text] [--username NAME]
                                 a bulk data set for benchmarks: N one-version documents

The standard data set exercises what a restore can get wrong: several users (a superuser,
"jürgen" with a non-ASCII name, "olga" with no documents), folders nested 4+ levels, empty
folders, documents with up to three versions, one title in two folders, titles with spaces and
non-ASCII letters, coloured tags on documents and folders, OCR text on pages and versions, a
group with permissions, user preferences, and every sidecar kind (svg, jpg, txt, hocr) where
Papermerge and its OCR plugin write them.  All uuids and timestamps are fixed, so two seeded
instances render to the same state whatever their database engine.
"""

import argparse
import base64
import datetime
import io
import os
import random
import sys
import uuid
import zlib

import django

SEED_NAMESPACE = uuid.UUID('6f1c8f8e-6a57-4a8e-9f43-2d5b1c1e0b10')
BASE_TIME = datetime.datetime(2021, 3, 4, 5, 6, 7, tzinfo=datetime.timezone.utc)
PASSWORD = 'Seed-password-1'


def fixed_uuid(*parts):
    """A uuid derived from ``parts``: the same on every instance seeded by this script."""
    return uuid.uuid5(SEED_NAMESPACE, '/'.join(str(p) for p in parts))


def moment(step):
    return BASE_TIME + datetime.timedelta(minutes=step)


# --- the standard data set ------------------------------------------------------------------
# Folders are paths below the user's .home or .inbox.  Documents: (folder, title, lang, ocr,
# versions, tags); a version is (file_name, page texts or None when not OCRed, description).
USERS = [
    dict(username='admin', email='admin@example.com', first_name='Ada', last_name='Admin',
         is_superuser=True, is_staff=True, is_active=True, last_login=moment(900)),
    dict(username='jürgen', email='juergen@example.de', first_name='Jürgen', last_name='Größmann',
         is_superuser=False, is_staff=False, is_active=True, last_login=None,
         groups=['Buchhaltung'],
         preferences={'ocr__trigger': 'manual', 'localization__timezone': 'Europe/Berlin'}),
    dict(username='olga', email='', first_name='Olga', last_name='', is_superuser=False,
         is_staff=False, is_active=False, last_login=None),
]

GROUPS = {'Buchhaltung': ['view_document', 'change_document']}

TAGS = {
    'admin': [
        dict(name='finance', bg_color='#ff0000', fg_color='#ffffff', pinned=True,
             description='Money in, money out'),
        dict(name='important', bg_color='#00ff00', fg_color='#000000', pinned=False,
             description=None),
        dict(name='archive 2021', bg_color='#c41fff', fg_color='#FFFFFF', pinned=False,
             description=''),
    ],
    'jürgen': [
        dict(name='wichtig', bg_color='#123abc', fg_color='#fefefe', pinned=False,
             description='Nicht vergessen'),
        dict(name='Überfällig', bg_color='#aa0000', fg_color='#ffffff', pinned=True,
             description='Zahlung überfällig'),
        dict(name='important', bg_color='#0000ff', fg_color='#ffffff', pinned=False,
             description=None),
    ],
    'olga': [],
}

FOLDERS = {
    'admin': [
        ('.home/Invoices', ['finance']),
        ('.home/Invoices/2021', []),
        ('.home/Invoices/2021/Q1', ['archive 2021']),
        ('.home/Invoices/2021/Q1/Deep and deeper', []),
        ('.home/Invoices/2021/Q1/Deep and deeper/Level five', []),
        ('.home/Invoices/2021/Q2 empty', []),
        ('.home/Contracts', ['important', 'finance']),
        ('.home/Empty folder', []),
        ('.inbox/Unsorted scans', []),
    ],
    'jürgen': [
        ('.home/Privat', []),
        ('.home/Privat/Steuern', ['wichtig']),
        ('.home/Privat/Steuern/2020', []),
        ('.home/Privat/Steuern/2020/Belege für Ärzte', ['Überfällig']),
        ('.home/Leerer Ordner', []),
    ],
    'olga': [
        ('.home/Nothing here yet', []),
    ],
}

DOCUMENTS = {
    'admin': [
        ('.home/Invoices/2021/Q1/Deep and deeper/Level five', 'Invoice March 2021', 'eng', True, [
            ('invoice-march.pdf', None, 'Original'),
            ('invoice-march.pdf', ['Invoice No. 2021-03 total 120 EUR', 'Page two: terms'],
             'OCR'),
        ], ['finance', 'important']),
        ('.home/Invoices/2021', 'Contract', 'eng', True, [
            ('contract.pdf', ['Contract between A and B'], 'Original'),
        ], []),
        ('.home/Contracts', 'Contract', 'deu', True, [
            ('vertrag.pdf', ['Vertrag zwischen A und B'], 'Original'),
        ], ['important']),
        ('.home', 'Annual report 2020', 'eng', True, [
            ('report.pdf', None, 'Original'),
            ('report.pdf', ['Annual report', 'Figures', 'Outlook'], 'OCR'),
            ('report.pdf', ['Annual report', 'Outlook'], 'Page 2 deleted'),
        ], ['archive 2021']),
        ('.inbox', 'scan 0001', 'deu', False, [
            ('scan_0001.pdf', None, 'Original'),
        ], []),
    ],
    'jürgen': [
        ('.home/Privat/Steuern/2020/Belege für Ärzte', 'Rechnung Zahnärztin Müller', 'deu', True, [
            ('rechnung müller.pdf', None, 'Original'),
            ('rechnung müller.pdf', ['Rechnung über 89,50 € für Behandlung', 'Größe ß äöü'],
             'OCR'),
        ], ['wichtig', 'Überfällig']),
        ('.home/Privat/Steuern/2020', 'Lohnsteuerbescheinigung 2020', 'deu', True, [
            ('lohnsteuer.pdf', ['Lohnsteuerbescheinigung für das Jahr 2020'], 'Original'),
        ], []),
        ('.home', 'Café Crème Übersicht', 'fra', True, [
            ('cafe.pdf', ['Café crème 2,80 €'], 'Original'),
        ], ['important']),
        ('.home/Privat', 'Contract', 'deu', True, [
            ('contract.pdf', ['Mietvertrag'], 'Original'),
        ], []),
    ],
    'olga': [],
}


def setup_django():
    django.setup()


def make_pdf(title, page_texts):
    """A small real PDF (reportlab, invariant so the bytes are reproducible)."""
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, invariant=1, pageCompression=0)
    pdf.setTitle(title)
    for number, text in enumerate(page_texts, start=1):
        pdf.setFont('Helvetica', 12)
        pdf.drawString(72, 760, title)
        pdf.drawString(72, 740, 'Page %d' % number)
        pdf.drawString(72, 720, text)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


class BulkPdfs:
    """Distinct two-page PDFs of about ``size`` bytes, fast and realistic: real PDFs keep their
    bulk in compressed streams (FlateDecode images and fonts, DCTDecode JPEGs), which gzip
    barely shrinks, so the first page draws a greyscale image whose FlateDecode stream holds
    pseudo-random pixels (seeded by the document number, so reproducible and distinct per
    document).  The objects are written by hand (reportlab would spend its time compressing)
    with a correct cross-reference table; pikepdf and qpdf accept them."""

    WIDTH = 600  # image pixels per row; one byte per pixel (DeviceGray, 8 bits)
    OVERHEAD = 1500  # bytes of the PDF outside the image stream, about

    def __init__(self, size):
        self.height = max(1, (size - self.OVERHEAD) // self.WIDTH)

    def pdf(self, number):
        pixels = random.Random(number).randbytes(self.WIDTH * self.height)
        image = zlib.compress(pixels, 1)  # random pixels: deflate keeps them at their size
        title = ('Document %06d' % number).encode('ascii')
        page_text = [b'Document %06d page %d text' % (number, n) for n in (1, 2)]
        contents = [b'q 595 0 0 842 0 0 cm /Im1 Do Q\n' + _text_operators(title, page_text[0], 1),
                    _text_operators(title, page_text[1], 2)]
        resources = b'<< /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >>'
        objects = [
            b'<< /Type /Catalog /Pages 2 0 R >>',
            b'<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>',
            b'<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources %s /Contents 7 0 R >>' % resources,
            b'<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources %s /Contents 8 0 R >>' % resources,
            b'<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
            _stream(b'/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray '
                    b'/BitsPerComponent 8 /Filter /FlateDecode' % (self.WIDTH, self.height), image),
            _stream(b'', contents[0]),
            _stream(b'', contents[1]),
            b'<< /Title (%s) /Producer (papermerge.backup seed) >>' % title,
        ]
        return _pdf_file(objects, root=1, info=len(objects))


def _text_operators(title, text, page_number):
    return (b'BT /F1 12 Tf 72 760 Td (%s) Tj 0 -20 Td (Page %d) Tj 0 -20 Td (%s) Tj ET\n'
            % (title, page_number, text))


def _stream(dictionary, data):
    return b'<< %s /Length %d >>\nstream\n%s\nendstream' % (dictionary, len(data), data)


def _pdf_file(objects, root, info):
    """A PDF 1.4 file of the numbered ``objects`` (1, 2, ...) with its xref table and trailer."""
    out = bytearray(b'%PDF-1.4\n%\xe2\xe3\xcf\xd3\n')
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b'%d 0 obj\n%s\nendobj\n' % (number, body)
    xref = len(out)
    out += b'xref\n0 %d\n0000000000 65535 f \n' % (len(objects) + 1)
    for offset in offsets:
        out += b'%010d 00000 n \n' % offset
    out += b'trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n' % (
        len(objects) + 1, root, info, xref)
    return bytes(out)


def jpeg_bytes(label):
    """A tiny real JPEG; PIL encodes the same pixels to the same bytes."""
    from PIL import Image, ImageDraw

    image = Image.new('RGB', (60, 80), 'white')
    ImageDraw.Draw(image).text((4, 4), label[:8], fill='black')
    out = io.BytesIO()
    image.save(out, format='JPEG', quality=50)
    return out.getvalue()


def svg_text(text, jpeg):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" width="60" height="80">\n'
        '<image width="60" height="80" xlink:href="data:image/jpeg;base64,%s"/>\n'
        '<text x="2" y="20" fill="transparent">%s</text>\n</svg>\n'
        % (base64.b64encode(jpeg).decode('ascii'), _xml_escape(text))
    )


def hocr_text(text):
    words = ''.join(
        '<span class="ocrx_word" id="word_1_%d" title="bbox %d 10 %d 30">%s</span> '
        % (index, index * 50, index * 50 + 45, _xml_escape(word))
        for index, word in enumerate(text.split(), start=1))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title></title>'
        '<meta name="ocr-system" content="tesseract 4.1.1" /></head><body>\n'
        '<div class="ocr_page" id="page_1" title="bbox 0 0 600 800">'
        '<span class="ocr_line" id="line_1_1">%s</span></div>\n</body></html>\n' % words)


def _xml_escape(text):
    return text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')


def write_file(relative_path, content):
    from papermerge.core.storage import abs_path

    target = abs_path(relative_path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    mode = 'wb' if isinstance(content, bytes) else 'w'
    with open(target, mode, **({} if mode == 'wb' else {'encoding': 'utf-8'})) as handle:
        handle.write(content)


def sidecar_paths(document_version, page_number):
    """Where Papermerge puts a page's sidecars: svg and txt per PagePath; jpg and hocr where
    the ocrmypdf_papermerge plugin writes them (pages/<NNNNNN>/<NNNNNN>_ocr*.<ext>)."""
    from papermerge.core.lib.path import PagePath

    page_path = PagePath(document_version.document_path, page_number)
    page_dir = os.path.dirname(os.path.normpath(page_path.txt_url))
    number = '%06d' % page_number
    return {
        'svg': os.path.normpath(page_path.svg_url),
        'txt': page_path.txt_url,
        'jpg': '%s/%s_ocr.jpg' % (page_dir, number),
        'hocr': '%s/%s_ocr_hocr.hocr' % (page_dir, number),
    }


def write_sidecars(document_version, page_number, text, kinds=('svg', 'jpg', 'txt', 'hocr'),
                   jpeg=None):
    paths = sidecar_paths(document_version, page_number)
    if jpeg is None and ('jpg' in kinds or 'svg' in kinds):
        jpeg = jpeg_bytes(text)
    contents = {'svg': lambda: svg_text(text, jpeg), 'jpg': lambda: jpeg,
                'txt': lambda: text + '\n', 'hocr': lambda: hocr_text(text)}
    for kind in kinds:
        write_file(paths[kind], contents[kind]())


# --- creating the standard data set ----------------------------------------------------------
class Seeder:
    def __init__(self, groups=True):
        from papermerge.core import models

        self.m = models
        self.with_groups = groups
        self.users = {}
        self.tags = {}
        self.folders = {}
        self.step = 0

    def tick(self):
        self.step += 1
        return moment(self.step)

    def run(self):
        from django.db import transaction

        with transaction.atomic():
            if self.with_groups:
                self.create_groups()
            for spec in USERS:
                self.create_user(dict(spec))
            for username, tags in TAGS.items():
                for spec in tags:
                    self.create_tag(username, spec)
            for username, folders in FOLDERS.items():
                for path, tag_names in folders:
                    self.create_folder(username, path, tag_names)
            for username, documents in DOCUMENTS.items():
                for spec in documents:
                    self.create_document(username, *spec)

    def create_groups(self):
        from django.contrib.auth.models import Group, Permission

        for name, codenames in GROUPS.items():
            group = Group.objects.create(name=name)
            group.permissions.set(Permission.objects.filter(
                content_type__app_label='core', codename__in=codenames))

    def create_user(self, spec):
        """Create the user and its .inbox/.home folders the way Papermerge's user post_save
        signal does (User.create_special_folders), but with fixed uuids."""
        from django.conf import settings
        from django.contrib.auth.hashers import make_password
        from django.contrib.auth.models import Group

        username = spec['username']
        groups = spec.pop('groups', [])
        preferences = spec.pop('preferences', {})
        user = self.m.User(id=fixed_uuid('user', username), date_joined=self.tick(),
                           password=make_password(PASSWORD, salt='seed%s' % len(self.users)),
                           **spec)
        create_special = settings.PAPERMERGE_CREATE_SPECIAL_FOLDERS
        settings.PAPERMERGE_CREATE_SPECIAL_FOLDERS = False
        try:
            user.save()
        finally:
            settings.PAPERMERGE_CREATE_SPECIAL_FOLDERS = create_special
        for title, attribute in (('.inbox', 'inbox_folder'), ('.home', 'home_folder')):
            folder = self.m.Folder.objects.create(
                id=fixed_uuid('folder', username, title), title=title, parent=None,
                user=user, ctype='folder')
            setattr(user, attribute, folder)
            self.folders[(username, title)] = folder
        user.save()
        user.groups.set(Group.objects.filter(name__in=groups))
        for key, value in sorted(preferences.items()):
            user.preferences[key] = value  # dynamic_preferences stores one row per change
        self.users[username] = user

    def create_tag(self, username, spec):
        tag = self.m.Tag(id=fixed_uuid('tag', username, spec['name']),
                         user=self.users[username], **spec)
        tag.save()
        self.tags[(username, spec['name'])] = tag

    def create_folder(self, username, path, tag_names):
        parent_path, title = path.rsplit('/', 1)
        folder = self.m.Folder.objects.create(
            id=fixed_uuid('folder', username, path), title=title, ctype='folder',
            parent=self.folders[(username, parent_path)], user=self.users[username])
        self.add_tags(folder, username, tag_names)
        self.folders[(username, path)] = folder

    def add_tags(self, node, username, tag_names):
        for name in tag_names:
            node.tags.add(self.tags[(username, name)], tag_kwargs={'user': self.users[username]})

    def create_document(self, username, folder_path, title, lang, ocr, versions, tag_names):
        path = '%s/%s' % (folder_path, title)
        document = self.m.Document.objects.create(
            id=fixed_uuid('document', username, path), title=title, lang=lang, ocr=ocr,
            ctype='document', parent=self.folders[(username, folder_path)],
            user=self.users[username],
            ocr_status='succeeded' if versions[-1][1] else 'unknown')
        for number, (file_name, texts, description) in enumerate(versions, start=1):
            self.create_version(document, path, number, file_name, texts, description)
        self.add_tags(document, username, tag_names)

    def create_version(self, document, path, number, file_name, texts, description):
        ocred = texts is not None
        page_texts = texts if ocred else ['(scanned page %d, not OCRed)' % n for n in (1, 2)]
        pdf = make_pdf(document.title, page_texts)
        version = self.m.DocumentVersion(
            id=fixed_uuid('version', document.user.username, path, number), document=document,
            number=number, file_name=file_name, size=len(pdf), page_count=len(page_texts),
            short_description=description, lang=document.lang,
            text=' '.join(t.strip() for t in texts) if ocred else '')
        version.save()
        write_file(version.document_path.url, pdf)
        for page_number, text in enumerate(page_texts, start=1):
            self.m.Page.objects.create(
                id=fixed_uuid('page', document.user.username, path, number, page_number),
                document_version=version, number=page_number, page_count=len(page_texts),
                text=text if ocred else '', lang=document.lang,
                norm_doc_title=document.title,
                norm_folder_title=document.parent.title if document.parent else '')
            if ocred:
                write_sidecars(version, page_number, text)


def fix_timestamps():
    """auto_now fields got the wall clock: give every row a fixed time so that content (and
    thus state) is the same on every seeded instance.  QuerySet.update() bypasses auto_now."""
    from papermerge.core import models

    for step, user in enumerate(models.User.objects.order_by('username'), start=500):
        models.User.objects.filter(pk=user.pk).update(created_at=moment(step),
                                                      updated_at=moment(step + 1))
    nodes = sorted(models.BaseTreeNode.objects.all(), key=lambda n: str(n.pk))
    for step, node in enumerate(nodes, start=1000):
        models.BaseTreeNode.objects.filter(pk=node.pk).update(created_at=moment(step),
                                                              updated_at=moment(step + 1))


# --- the bulk data set (benchmarks) ----------------------------------------------------------
def seed_bulk(count, pdf_size, sidecars_only_text, username, per_folder=100):
    """``count`` one-version documents of one user, ``per_folder`` per folder, each with a
    distinct ~``pdf_size``-byte two-page PDF and sidecars.  Rows go in with bulk_create (and a
    raw per-row insert for core_document, which bulk_create refuses for multi-table models)."""
    from django.db import transaction
    from papermerge.core import models

    with transaction.atomic():
        user = models.User.objects.filter(username=username).first()
        if user is None:
            user = models.User(username=username, email='%s@example.com' % username,
                               password='!')
            user.save()  # Papermerge's signal creates .home and .inbox
        home = user.home_folder
        folders = []
        for index in range((count + per_folder - 1) // per_folder):
            folders.append(models.Folder.objects.create(
                title='Batch %05d' % index, parent=home, user=user, ctype='folder'))
        pdfs = BulkPdfs(pdf_size)
        for start in range(0, count, 500):
            _bulk_documents(models, user, folders, range(start, min(count, start + 500)),
                            pdfs, sidecars_only_text, per_folder)


def _bulk_documents(models, user, folders, numbers, pdfs, sidecars_only_text, per_folder):
    nodes, documents, versions, pages = [], [], [], []
    jpeg = jpeg_bytes('page')  # drawing text per page would double the seeding time
    kinds = ('txt',) if sidecars_only_text else ('svg', 'jpg', 'txt', 'hocr')
    for n in numbers:
        node = models.BaseTreeNode(id=uuid.uuid4(), title='Document %06d' % n, lang='deu',
                                   user=user, parent=folders[n // per_folder], ctype='document')
        nodes.append(node)
        documents.append(models.Document(basetreenode_ptr=node, id=node.id, title=node.title,
                                         lang='deu', user=user, parent=node.parent,
                                         ctype='document', ocr=True, ocr_status='succeeded'))
    models.BaseTreeNode.objects.bulk_create(nodes)
    for document in documents:
        document.save_base(raw=True)  # only the core_document row; its node row exists
    for n, document in zip(numbers, documents):
        texts = ['Document %06d page 1 text' % n, 'Document %06d page 2 text' % n]
        pdf = pdfs.pdf(n)
        version = models.DocumentVersion(
            id=uuid.uuid4(), document=document, number=1, file_name='document-%06d.pdf' % n,
            size=len(pdf), page_count=2, short_description='Original', lang='deu',
            text=' '.join(texts))
        versions.append(version)
        write_file(version.document_path.url, pdf)
        for page_number, text in enumerate(texts, start=1):
            pages.append(models.Page(id=uuid.uuid4(), document_version=version,
                                     number=page_number, page_count=2, text=text, lang='deu'))
            write_sidecars(version, page_number, text, kinds, jpeg)
    models.DocumentVersion.objects.bulk_create(versions)
    models.Page.objects.bulk_create(pages)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--no-groups', action='store_true',
                        help='standard seed without groups (restorable by Papermerge itself)')
    parser.add_argument('--documents', type=int, help='bulk mode: number of documents')
    parser.add_argument('--pdf-size', type=int, default=4096,
                        help='bulk mode: approximate size of each PDF in bytes')
    parser.add_argument('--sidecars-only-text', action='store_true',
                        help='bulk mode: write only the txt sidecar of each page')
    parser.add_argument('--username', default='bench', help='bulk mode: owner of the documents')
    options = parser.parse_args(argv)
    setup_django()
    if options.documents is not None:
        seed_bulk(options.documents, options.pdf_size, options.sidecars_only_text,
                  options.username)
    else:
        from papermerge.core.models import User
        if User.objects.exists():
            sys.exit('seed.py: this instance already has users; the standard seed needs an '
                     'empty, migrated instance (use --documents N to add bulk documents)')
        Seeder(groups=not options.no_groups).run()
        fix_timestamps()


if __name__ == '__main__':
    main(sys.argv[1:])
