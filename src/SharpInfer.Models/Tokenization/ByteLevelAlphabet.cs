namespace SharpInfer.Models.Tokenization;

/// <summary>
/// GPT-2's reversible byte -> character table: printable Latin-1 bytes stand for themselves, the
/// other 68 bytes (controls, space, 0x7F-0xA0, 0xAD) are moved to U+0100.. in byte order, so every
/// byte-level piece is printable text and a space shows as 'Ġ' (U+0120).
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = BuildByteToChar();
    // Indexed by char; -1 where the char stands for no byte. Every mapped char is below U+0144.
    private static readonly short[] CharToByte = BuildCharToByte();

    public static char CharOf(byte b) => ByteToChar[b];

    /// <summary>The byte a byte-level character stands for, or -1 when it stands for none.</summary>
    public static int ByteOf(char c) => c < CharToByte.Length ? CharToByte[c] : -1;

    private static bool IsPrintableLatin1(int b) => (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);

    private static char[] BuildByteToChar()
    {
        var table = new char[256];
        int shifted = 0;
        for (int b = 0; b < 256; b++)
            table[b] = IsPrintableLatin1(b) ? (char)b : (char)(256 + shifted++);
        return table;
    }

    private static short[] BuildCharToByte()
    {
        var table = new short[256 + 68];
        Array.Fill(table, (short)-1);
        for (int b = 0; b < 256; b++) table[ByteToChar[b]] = (short)b;
        return table;
    }
}
